"""Identifiers: random, URL-safe, prefixed by kind so that a log line says what it names."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """Return a new id such as `pat_3kT9...` (prefix + 128 random bits, base32 lower-case)."""
    return f"{prefix}_{secrets.token_hex(16)}"
