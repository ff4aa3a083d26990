"""structlog JSON logs that cannot carry image bytes, embeddings or unmasked ID numbers.

The last processor before rendering scrubs every event: bytes and long numeric lists are replaced
by their size, keys named like images or templates are dropped, long base64-looking strings are
cut, and 15/18-character resident ID numbers anywhere in a string are masked.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}|\d{5})(\d{3}[\dXx])(?![0-9A-Za-z])")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{128,}")
_BIOMETRIC_KEYS = re.compile(
    r"(^|_)(image|images|img|photo|photos|frame|frames|embedding|embeddings|template|templates|"
    r"vector|descriptor|chip_photo)$"
)


def mask_ids(text: str) -> str:
    """`110101199003074518` -> `110101********4518` wherever it occurs in `text`."""
    return _ID.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def _scrub(value: object, depth: int = 0) -> object:  # noqa: PLR0911 - one case per type
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return mask_ids(_BLOB.sub("<blob>", value))
    if depth > 6:
        return "<nested>"
    if isinstance(value, dict):
        return {
            str(k): _scrub(v, depth + 1)
            for k, v in value.items()
            if not _BIOMETRIC_KEYS.search(str(k).lower())
        }
    if isinstance(value, list | tuple):
        if sum(isinstance(v, float) for v in value) > 16:
            return f"<{len(value)} numbers>"
        return [_scrub(v, depth + 1) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a NumPy array
        return f"<array {getattr(value, 'shape', '')}>"
    return value


def scrub_event(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the redaction described in the module docstring."""
    cleaned = _scrub(dict(event))
    assert isinstance(cleaned, dict)
    return cleaned


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written (a test runner swaps it in and out)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """JSON lines on `stream` (stderr by default), scrubbed."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub_event,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
