"""Staff login: argon2id password hashes and short-lived HS256 JWTs.

Every failure is `Unauthorized` with a stable code: `invalid_credentials`, `account_disabled`,
`token_expired`, `token_not_yet_valid`, `token_bad_signature`, `token_bad_algorithm`,
`token_wrong_audience`, `token_wrong_issuer`, `token_malformed`, `token_bad_claims` (including
a lifetime longer than this server issues), `unknown_staff` and `token_stale` (the account's role
or hospital changed since the token was issued).

A signature proves only that this server issued the token: every request also looks the account
up (`check_account`), so a disabled or deleted account stops working at once, not at expiry.
"""

from __future__ import annotations

import secrets
import threading
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facepay.api.rbac import Principal, PrincipalKind, Role
from facepay.config import Settings
from facepay.shared.clock import Clock
from facepay.shared.errors import InvalidInput, Unauthorized

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MIN_SECRET_BYTES = 32
MAX_TOKEN = 4096
ALGORITHM = "HS256"
_ROLES = frozenset(r.value for r in Role)
CLAIMS = ("exp", "iat", "nbf", "jti", "sub", "iss", "aud", "role", "hospital_id")


@dataclass(frozen=True)
class StaffAccount:
    """A staff member as the login needs them."""

    staff_id: str
    username: str
    password_hash: str
    role: Role
    hospital_id: str | None
    """None for platform operators (they belong to no hospital)."""
    active: bool = True


class StaffAccounts(Protocol):
    """Staff accounts by user name; the caller's unit of work commits `set_password_hash`."""

    def by_username(self, username: str) -> StaffAccount | None:
        """The account with this user name, if any."""
        ...

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace the stored hash (after a parameter upgrade or a password change)."""
        ...

    def by_id(self, staff_id: str) -> StaffAccount | None:
        """The account with this staff id, if any."""
        ...


class InMemoryStaffAccounts:
    """A `StaffAccounts` in a dict, for tests and the demo."""

    def __init__(self, accounts: list[StaffAccount] | None = None) -> None:
        self._by_name = {a.username: a for a in accounts or []}
        self._lock = threading.Lock()

    def by_username(self, username: str) -> StaffAccount | None:
        """The account, if any."""
        return self._by_name.get(username)

    def by_id(self, staff_id: str) -> StaffAccount | None:
        """The account, if any."""
        return next((a for a in self._by_name.values() if a.staff_id == staff_id), None)

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Store a new hash."""
        with self._lock:
            for name, account in self._by_name.items():
                if account.staff_id == staff_id:
                    self._by_name[name] = replace(account, password_hash=password_hash)


def _normalise(password: str) -> str:
    # NFKC so that the same password typed on different keyboards/IMEs hashes the same (NIST).
    return unicodedata.normalize("NFKC", password)


class PasswordHashing:
    """argon2id with explicit parameters; the default is RFC 9106's low-memory profile."""

    def __init__(
        self, *, time_cost: int = 3, memory_cost_kib: int = 65_536, parallelism: int = 4
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified against when the user does not exist, so that the reply takes as long.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        """Hash a new password after checking its length."""
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                f"passwords have {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="weak_password"
            )
        return self._hasher.hash(_normalise(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """True if `password` matches; a malformed stored hash never matches."""
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self._hasher.verify(password_hash, _normalise(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification and learn nothing."""
        self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True if the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def authenticate(
    *, accounts: StaffAccounts, passwords: PasswordHashing, username: str, password: str
) -> StaffAccount:
    """Return the account if the password matches, upgrading its hash; else raise Unauthorized."""
    account = accounts.by_username(username)
    if account is None:
        passwords.verify_dummy(password)
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    if not passwords.verify(account.password_hash, password):
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    if not account.active:
        raise Unauthorized("this account is disabled", code="account_disabled")
    if passwords.needs_rehash(account.password_hash):
        new_hash = passwords.hash(password) if len(password) >= MIN_PASSWORD else None
        if new_hash is not None:  # a legacy short password is kept until the user changes it
            accounts.set_password_hash(account.staff_id, new_hash)
            account = replace(account, password_hash=new_hash)
    return account


def check_account(accounts: StaffAccounts, principal: Principal) -> None:
    """Refuse a valid token whose account is gone, disabled, or no longer what the token says."""
    account = accounts.by_id(principal.id)
    if account is None:
        raise Unauthorized("this staff account does not exist", code="unknown_staff")
    if not account.active:
        raise Unauthorized("this account is disabled", code="account_disabled")
    if (account.role, account.hospital_id) != (principal.role, principal.hospital_id):
        raise Unauthorized("the account changed since this token was issued; log in again",
                           code="token_stale")  # fmt: skip


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

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock) -> StaffTokens:
        """Tokens configured by FACEPAY_JWT_SECRET, FACEPAY_STAFF_TOKEN_TTL_SECONDS, ..."""
        return cls(
            secret=settings.jwt_secret.get_secret_value(),
            clock=clock,
            ttl=timedelta(seconds=settings.staff_token_ttl_seconds),
            leeway=timedelta(seconds=settings.token_leeway_seconds),
        )

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
