"""The hospital flows of `facepay demo`, one walker per flow (each `walk(site, http, today=)`)."""
