"""Password hashing: argon2id with explicit parameters, NFKC-normalised passwords."""

from __future__ import annotations

import secrets
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facepay.shared.errors import InvalidInput

MIN_PASSWORD = 12
MAX_PASSWORD = 1024


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
