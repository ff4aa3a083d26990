"""`Access`: the policy, the request verifier, the token issuer, the staff accounts and the
password hasher of one process, built once by `facepay.bootstrap.build_access`."""

from __future__ import annotations

from dataclasses import dataclass

from facepay.access.passwords import PasswordHashing
from facepay.access.rbac import AccessPolicy
from facepay.access.signing import RequestVerifier
from facepay.access.staff import StaffAccounts
from facepay.access.tokens import StaffTokens


@dataclass(frozen=True)
class Access:
    """Everything that authenticates and authorises a caller."""

    policy: AccessPolicy
    verifier: RequestVerifier
    tokens: StaffTokens
    accounts: StaffAccounts
    passwords: PasswordHashing
