"""`Access`: the policy, the request verifier, the token issuer, the staff accounts and the
password hasher of one process, built once by `facepay.bootstrap.build_access`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from facepay.access.passwords import PasswordHashing
from facepay.access.rbac import AccessPolicy
from facepay.access.signing import RequestVerifier
from facepay.access.staff import StaffAccounts
from facepay.access.tokens import StaffTokens


class RateLimit(Protocol):
    """Token buckets per caller (facepay.services.shared_state.SharedTokenBuckets in the
    database for every worker; facepay.api.limits.TokenBuckets in one process's memory)."""

    def take(self, key: str) -> None:
        """Spend one token for `key`, or raise RateLimited."""
        ...


@dataclass(frozen=True)
class RequestLimits:
    """The request rates: per signed terminal, per staff member, per login user name."""

    terminal: RateLimit
    staff: RateLimit
    login: RateLimit


@dataclass(frozen=True)
class Access:
    """Everything that authenticates and authorises a caller."""

    policy: AccessPolicy
    verifier: RequestVerifier
    tokens: StaffTokens
    accounts: StaffAccounts
    passwords: PasswordHashing
    limits: RequestLimits
