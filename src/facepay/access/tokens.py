"""Staff tokens: short-lived HS256 JWTs, bound to this server's issuer and audience.

Every failure is `Unauthorized` with a stable code: `token_expired`, `token_not_yet_valid`,
`token_bad_signature`, `token_bad_algorithm`, `token_wrong_audience`, `token_wrong_issuer`,
`token_malformed` and `token_bad_claims` (including a lifetime longer than this server issues).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from facepay.access.rbac import Principal, PrincipalKind, Role
from facepay.access.staff import StaffAccount
from facepay.shared.clock import Clock
from facepay.shared.errors import InvalidInput, Unauthorized

MIN_SECRET_BYTES = 32
MAX_TOKEN = 4096
ALGORITHM = "HS256"
_ROLES = frozenset(r.value for r in Role)
CLAIMS = ("exp", "iat", "nbf", "jti", "sub", "iss", "aud", "role", "hospital_id")


@dataclass(frozen=True)
class IssuedToken:
    """A signed staff token and when it stops working."""

    token: str
    jti: str
    expires_at: datetime


def _fail(code: str, message: str) -> Unauthorized:
    return Unauthorized(message, code=code)


class StaffTokens:
    """Issues and checks staff JWTs (HS256, issuer and audience bound, short-lived)."""

    def __init__(
        self,
        *,
        secret: str,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=15),
        leeway: timedelta = timedelta(seconds=30),
        issuer: str = "facepay",
        audience: str = "facepay-staff",
    ) -> None:
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise InvalidInput("the JWT secret must have at least 32 bytes", code="weak_secret")
        self._key = secret.encode("utf-8")
        self._clock, self._ttl, self._leeway = clock, ttl, leeway
        self._issuer, self._audience = issuer, audience

    def issue(self, account: StaffAccount) -> IssuedToken:
        """A token for `account` valid from now for the configured TTL."""
        now = int(self._clock.now().timestamp())
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": account.staff_id,
            "role": account.role.value,
            # PyJWT counts a null claim as missing: a platform operator's is the empty string.
            "hospital_id": account.hospital_id or "",
            "iat": now,
            "nbf": now,
            "exp": now + int(self._ttl.total_seconds()),
            "jti": jti,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        expires = self._clock.now() + self._ttl
        return IssuedToken(token=token, jti=jti, expires_at=expires)

    def principal(self, token: str) -> Principal:
        """The staff principal a valid token names; Unauthorized otherwise."""
        claims = self._decode(token)
        self._check_times(claims)
        role, sub, hospital = claims["role"], claims["sub"], claims["hospital_id"]
        if not all(isinstance(t, str) and t for t in (role, sub)) or role not in _ROLES:
            raise _fail("token_bad_claims", "the token's role or subject is invalid")
        # A platform operator's token names no hospital (""); every other token names one.
        if not isinstance(hospital, str) or bool(hospital) == Role(role).is_platform:
            raise _fail("token_bad_claims", "the token's hospital does not fit its role")
        return Principal(PrincipalKind.STAFF, sub, hospital or None, Role(role))

    def _decode(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN:
            raise _fail("token_malformed", "token too long")
        try:
            # Times are checked below against the injected clock, not PyJWT's wall clock.
            return jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise _fail("token_bad_signature", "token signature does not verify") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise _fail("token_bad_algorithm", "token algorithm not accepted") from exc
        except jwt.InvalidAudienceError as exc:
            raise _fail("token_wrong_audience", "token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise _fail("token_wrong_issuer", "token is from another issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _fail("token_bad_claims", str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise _fail("token_malformed", "token cannot be read") from exc

    def _check_times(self, claims: dict[str, Any]) -> None:
        times = [claims[name] for name in ("exp", "nbf", "iat")]
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
            raise _fail("token_bad_claims", "exp, nbf and iat must be integers")
        exp, nbf, iat = times
        now = self._clock.now().timestamp()
        leeway = self._leeway.total_seconds()
        if exp - iat > self._ttl.total_seconds() + leeway:
            raise _fail("token_bad_claims", "the token lives longer than this server issues")
        if now >= exp + leeway:
            raise _fail("token_expired", "token has expired; log in again")
        if now + leeway < nbf or now + leeway < iat:
            raise _fail("token_not_yet_valid", "token is not valid yet")
