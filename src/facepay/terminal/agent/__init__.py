"""The terminal agent (`facepay terminal run`): the process on a kiosk, window or pharmacy till
that owns the terminal's identity, talks to the server, and takes face payments offline within
the server's signed limits.

- `store`: its own SQLite file (outbox of signed vouchers, the offline package, notices), every
  write committed and fsynced before it returns;
- `keys`: the terminal's Ed25519 key (`--key`) and the X25519 key the library is sealed to;
- `link`: signed requests to the server, online/offline detection, the server's clock;
- `package`: the offline package checked and opened (signed limits, sealed library);
- `offline`: the offline decision, pure: every limit, 1:N, the provisional settlement;
- `vision`: the local quality gate and liveness (the same `facepay.vision` code the server runs);
- `sync`: the outbox drained exactly once through one lease, the package refreshed;
- `service`: a payment end to end, online or offline; `api`: the local HTTP API on loopback.
"""
