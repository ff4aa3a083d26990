"""The scripted demo (`facepay demo`): a signed kiosk client driving a real server."""
