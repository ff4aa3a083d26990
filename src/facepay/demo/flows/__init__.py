"""One walker per hospital flow of the demo day: `walk(site, http, *, today)` -> a JSON report."""
