"""HL7 data types read into facepay's: dates and times (DT, DTM), yuan amounts to fen, decimals,
and the translation of a facepay error into the ERR of the field that caused it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from facepay.adapters.hl7v2.messages import (
    DATA_TYPE_ERROR,
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    UNKNOWN_KEY,
    Hl7Reject,
)
from facepay.services.ports import StorageBusy
from facepay.shared.errors import Conflict, FacepayError, InvalidInput, NotFound, Unavailable

_DTM = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?(?:\.\d{1,4})?)?([+-]\d{4})?")
_YUAN = re.compile(r"\d{1,12}(?:\.\d{1,2})?")


def dtm(value: str, location: str, *, utc_offset_minutes: int) -> datetime:
    """An HL7 DTM (YYYYMMDD[HHMM[SS]][+ZZZZ]) as an aware datetime; without an offset it is the
    hospitals' local time (Settings.hospital_utc_offset_minutes)."""
    found = _DTM.fullmatch(value)
    if found is None:
        raise Hl7Reject(f"not a date/time: {value[:30]!r}", location=location, code=DATA_TYPE_ERROR)
    y, mo, d, h, mi, s, zone = found.groups()
    if zone:
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    else:
        offset = timedelta(minutes=utc_offset_minutes)
    try:
        zone_of = timezone(offset)
        local = datetime(
            int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), 0, zone_of
        )
        return local.astimezone(UTC)
    except ValueError:
        raise Hl7Reject(
            f"not a date/time: {value[:30]!r}", location=location, code=DATA_TYPE_ERROR
        ) from None


def day(value: str, location: str) -> date:
    """The calendar date of an HL7 DT or DTM (its first 8 digits, as the sender's local day)."""
    if not re.fullmatch(r"\d{8}.*", value):
        raise Hl7Reject(f"not a date: {value[:30]!r}", location=location, code=DATA_TYPE_ERROR)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise Hl7Reject(
            f"not a date: {value[:30]!r}", location=location, code=DATA_TYPE_ERROR
        ) from None


def fen(value: str, location: str) -> int:
    """A yuan amount, not negative, at most 2 decimals (HL7 MO / CP, CNY), as integer fen,
    exactly."""
    text = value.strip()
    if not _YUAN.fullmatch(text):
        raise Hl7Reject(
            f"an amount in yuan, not negative, at most 2 decimals, got {text[:30]!r}",
            location=location,
            code=DATA_TYPE_ERROR,
        )
    return int(Decimal(text) * 100)


def quantity(value: str, location: str) -> Decimal:
    """A decimal quantity (1 when empty)."""
    if not value:
        return Decimal(1)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Hl7Reject(
            f"not a number: {value[:30]!r}", location=location, code=DATA_TYPE_ERROR
        ) from None
    if not number.is_finite() or number <= 0:
        raise Hl7Reject("a quantity above zero", location=location, code=DATA_TYPE_ERROR)
    return number


@contextmanager
def blame(location: str, by_code: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn a facepay error raised inside into an AE naming `location` (or the location
    `by_code` gives for the error's code). Storage trouble passes through: it is answered by
    no ACK at all, so that the hospital system sends the message again."""
    try:
        yield
    except (StorageBusy, Unavailable):
        raise
    except FacepayError as error:
        if isinstance(error, Conflict) and not isinstance(error, InvalidInput):
            hl7_code = DUPLICATE_KEY if "conflict" in error.code else INTERNAL_ERROR
        elif isinstance(error, NotFound):
            hl7_code = UNKNOWN_KEY
        elif isinstance(error, InvalidInput):
            hl7_code = DATA_TYPE_ERROR
        else:
            hl7_code = INTERNAL_ERROR
        where = (by_code or {}).get(error.code, location)
        raise Hl7Reject(f"{error.code}: {error}", location=where, code=hl7_code) from None
