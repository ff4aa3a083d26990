"""Pages of lookups: `limit` (1-200, default 50) and an opaque cursor `after`.

A response is `{"items": [...], "next": cursor | null}`; send `next` back as `after` for the
following page. The cursor names the listing it belongs to and the (created_at, id) of the last
row served. It carries no authority: the caller's hospital still filters every page, so an
edited cursor can only move the position inside what the caller may see anyway. A cursor this
server could not have made is a 400 `bad_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import Query

from facepay.services.repositories import PageKey
from facepay.shared.errors import FacepayError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_CURSOR = 400
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}"),
]
After = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="The `next` of the previous page (opaque); omit it for the first page",
    ),
]


class BadCursor(FacepayError):  # noqa: N818 - the tree reads as nouns
    """`after` is not a cursor this server handed out for this listing (HTTP 400)."""

    code = "bad_cursor"


def encode_cursor(listing: str, key: PageKey | None) -> str | None:
    """The opaque cursor after `key` in `listing` (None stays None: no further page)."""
    if key is None:
        return None
    at, last_id = key
    raw = json.dumps([listing, at.isoformat(), last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(listing: str, cursor: str | None) -> PageKey | None:
    """The key a cursor of `listing` stands for; BadCursor for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, at_text, last_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
    except (binascii.Error, ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise BadCursor("`after` is not a cursor of this listing: send a `next` back") from error
    well_formed = (
        name == listing
        and isinstance(last_id, str)
        and 0 < len(last_id) <= 120
        and set(last_id) <= _ID_CHARS
        and at.tzinfo is not None
    )
    if not well_formed:
        raise BadCursor("`after` is not a cursor of this listing: send a `next` back")
    return at, last_id
