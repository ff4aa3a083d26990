"""The liveness checks; each reads the shared `Evidence` and returns a `CheckResult`."""
