"""Who is calling: a signed terminal (Ed25519 headers) or a staff member (Bearer JWT).

The signature covers the raw request target (path and query exactly as sent) and the raw body
bytes, so the checks run on what arrived, before any parsing. After authentication every caller
spends one token of its own rate-limit bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from facepay.access.context import RateLimit
from facepay.access.rbac import Principal
from facepay.access.signing import RequestVerifier
from facepay.access.staff import StaffAccounts, check_account
from facepay.access.tokens import StaffTokens
from facepay.api.logging import bind_caller
from facepay.shared.errors import Unauthorized
from facepay.terminal import signing as protocol


@dataclass(frozen=True)
class Authenticator:
    """The verifier, token checker and buckets of one app."""

    verifier: RequestVerifier
    tokens: StaffTokens
    accounts: StaffAccounts
    terminal_buckets: RateLimit
    staff_buckets: RateLimit

    async def terminal(self, request: Request) -> Principal:
        """The signed terminal making `request`; Unauthorized otherwise."""
        body = await request.body()  # cached by Starlette: the route parses the same bytes
        # Both ask the database (the nonce, the shared bucket): off the event loop.
        principal = await run_in_threadpool(
            self.verifier.verify,
            method=request.method,
            path=raw_target(request),
            headers=request.headers.items(),
            body=body,
        )
        bind_caller(f"terminal:{principal.id}")
        await run_in_threadpool(self.terminal_buckets.take, principal.id)
        return principal

    def staff(self, request: Request) -> Principal:
        """The staff member named by the Bearer token; Unauthorized otherwise."""
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("log in and send `Authorization: Bearer <token>`", code="no_token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("expected `Authorization: Bearer <token>`", code="token_malformed")
        principal = self.tokens.principal(token.strip())
        bind_caller(f"staff:{principal.id}")
        self.staff_buckets.take(principal.id)
        check_account(self.accounts, principal)
        return principal

    async def any(self, request: Request) -> Principal:
        """A staff member if a token is sent, else a signed terminal."""
        if "authorization" in request.headers:
            # The token's account and its rate bucket are read from the database: off the loop.
            return await run_in_threadpool(self.staff, request)
        if protocol.HEADER_SIGNATURE.lower() not in request.headers:
            raise Unauthorized(
                "sign the request (terminal) or send a Bearer token (staff)", code="no_credentials"
            )
        return await self.terminal(request)


def raw_target(request: Request) -> str:
    """The request target as the client sent it: raw path plus `?query` when there is one."""
    raw = request.scope.get("raw_path") or request.url.path.encode("ascii", "replace")
    path = raw.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path
