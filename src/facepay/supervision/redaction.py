"""Masking of personal identifiers and a guard that keeps biometric data out of logs and audit.

Audit details and log fields must never hold image bytes, embeddings or unmasked ID numbers. The
guard is a deny-list of shapes (bytes, floats, long numeric arrays, long base64/hex strings,
18-digit ID numbers, keys named like images or templates); it rejects instead of scrubbing so that
the caller's bug is visible at once rather than silently hidden.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from facepay.shared.errors import InvalidInput

_ID_NUMBER = re.compile(r"^(\d{6})(\d{5}|\d{8})(\d{3}[\dXx])$")
# An 18-character resident ID (17 digits + digit/X) or an old 15-digit one, not inside a longer run.
_UNMASKED_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_PHONE = re.compile(r"^(\d{3})(\d{4})(\d{4})$")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{128,}")
_DATA_URI = re.compile(r"data:[\w.+\-]+/[\w.+\-]+;base64,", re.IGNORECASE)
_FORBIDDEN_KEY_TAILS = frozenset(
    {
        "image",
        "images",
        "img",
        "photo",
        "photos",
        "picture",
        "frame",
        "frames",
        "embedding",
        "embeddings",
        "template",
        "templates",
        "vector",
        "descriptor",
        "blob",
        "bytes",
    }
)
MAX_STRING = 1024
MAX_NUMBERS_IN_LIST = 32
MAX_DEPTH = 8
MAX_INT = 10**14


def mask_id_number(id_number: str) -> str:
    """Return `110101********4518` for `110101199003074518`: region code and last four kept."""
    match = _ID_NUMBER.fullmatch(id_number.strip())
    if match is None:
        # The value itself is never echoed: it may be a real, slightly mistyped ID number.
        raise InvalidInput("not a 15- or 18-character resident ID number", code="bad_id_number")
    head, middle, tail = match.groups()
    return f"{head}{'*' * len(middle)}{tail.upper()}"


def mask_phone(phone: str) -> str:
    """Return `138****5678` for a Chinese mobile number `13812345678`."""
    match = _PHONE.fullmatch(phone.strip())
    if match is None:
        raise InvalidInput("not an 11-digit mobile number", code="bad_phone")
    head, _, tail = match.groups()
    return f"{head}****{tail}"


def check_safe_details(details: Mapping[str, object]) -> None:
    """Raise InvalidInput if `details` is not plain JSON or looks like it carries biometric data."""
    _check_value(details, path="details", depth=0)


def _check_value(value: object, *, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{path}: nested too deeply", code="unsafe_details")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) >= MAX_INT:
            # 15+ digit integers are ID numbers or bank cards in disguise, not amounts in fen.
            raise InvalidInput(f"{path}: integer too large", code="unsafe_details")
        return
    if isinstance(value, bytes | bytearray | memoryview):
        raise InvalidInput(f"{path}: raw bytes are not allowed", code="unsafe_details")
    if isinstance(value, float):
        # Money is fen and scores belong in metrics; floats also have no canonical JSON form.
        raise InvalidInput(f"{path}: floats are not allowed", code="unsafe_details")
    if isinstance(value, str):
        _check_string(value, path=path)
        return
    if isinstance(value, Mapping):
        _check_mapping(value, path=path, depth=depth)
        return
    if isinstance(value, list | tuple):
        _check_list(value, path=path, depth=depth)
        return
    raise InvalidInput(f"{path}: {type(value).__name__} is not JSON", code="unsafe_details")


def _check_mapping(value: Mapping[object, object], *, path: str, depth: int) -> None:
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{path}: keys must be strings", code="unsafe_details")
        _check_string(key, path=f"{path} key")
        if re.split(r"[_\-.]", key.lower())[-1] in _FORBIDDEN_KEY_TAILS:
            message = f"{path}.{key}: biometric field names are not allowed"
            raise InvalidInput(message, code="unsafe_details")
        _check_value(item, path=f"{path}.{key}", depth=depth + 1)


def _check_list(value: list[object] | tuple[object, ...], *, path: str, depth: int) -> None:
    numbers = sum(1 for item in value if isinstance(item, int | float))
    if numbers > MAX_NUMBERS_IN_LIST:
        raise InvalidInput(f"{path}: long numeric array (embedding?)", code="unsafe_details")
    for index, item in enumerate(value):
        _check_value(item, path=f"{path}[{index}]", depth=depth + 1)


def _check_string(value: str, *, path: str) -> None:
    if len(value) > MAX_STRING:
        raise InvalidInput(f"{path}: string longer than {MAX_STRING}", code="unsafe_details")
    if _BLOB.search(value) or _DATA_URI.search(value):
        raise InvalidInput(f"{path}: looks like encoded binary data", code="unsafe_details")
    if _UNMASKED_ID.search(value):
        message = f"{path}: unmasked ID number; use mask_id_number"
        raise InvalidInput(message, code="unsafe_details")
