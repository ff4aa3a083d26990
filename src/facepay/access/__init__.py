"""Access: who the caller is and what they may do, free of HTTP and of the database.

- `rbac`: roles, terminal kinds, permissions, the grant table and the refund limits
- `signing`: the server side of terminal request signing, with the `TerminalKeys` and
  `NonceStore` ports (and in-memory fakes); the client side is `facepay.terminal.signing`
- `keys`: Ed25519 public keys as terminals export them, fingerprints, the checkpoint signer
- `staff`: staff accounts (the `StaffAccounts` port and a fake), the login, the account check
- `passwords`: argon2id password hashing
- `tokens`: short-lived staff JWTs
- `context`: `Access`, all of the above as `facepay.bootstrap.build_access` wires it

The database implementations of the ports are in `facepay.adapters.db.security_ports`; the
HTTP layer (`facepay.api.auth`, `facepay.api.access`) reads headers and calls in here.
"""
