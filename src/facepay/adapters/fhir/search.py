"""Search parameters of the facade, parsed strictly, and the opaque paging cursor.

A parameter a resource type does not support is refused (400), not ignored: a client that
filters by something the server ignores would take the whole site's records for its answer.
`date` takes the FHIR prefixes eq, ge, le, gt and lt on a year, month, day or instant; a value
without a time zone is in the hospital's zone (Settings.hospital_utc_offset_minutes), and
repeated `date` parameters all apply. `_count` is bounded; the cursor (`_page`) is the last or
first (time, id) of a page, base64url JSON: opaque to the client, checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

from facepay.shared.errors import BadRequest

COMMON = frozenset({"_count", "_page", "_format", "_pretty"})
FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$")
MAX_VALUE = 200
MAX_PARAMS = 20


@dataclass(frozen=True)
class Cursor:
    """Where the next (`after`) or previous (`before`) page starts."""

    direction: Literal["after", "before"]
    at: datetime
    id: str

    def encode(self) -> str:
        """The opaque form carried in `_page`."""
        data = json.dumps([self.direction[0], self.at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """The cursor of a `_page` value this server made (400 for anything else)."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            way, at, key = json.loads(raw)
            moment = datetime.fromisoformat(at)
            if way not in ("a", "b") or not isinstance(key, str) or moment.tzinfo is None:
                raise ValueError
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
            raise BadRequest("_page: not a page of this server", code="fhir_bad_page") from None
        return cls("after" if way == "a" else "before", moment, key[:64])


@dataclass(frozen=True)
class Search:
    """A parsed search: the filters, the page size and where the page starts."""

    count: int
    cursor: Cursor | None = None
    identifier: tuple[str | None, str] | None = None
    """(system or None, value)."""
    patient: str | None = None
    """The FHIR id of `Patient/<id>`."""
    statuses: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    others: dict[str, str] = field(default_factory=dict)
    """Parameters of one resource type (such as `use` of Claim), one value each."""


def parse_search(
    items: list[tuple[str, str]],
    *,
    supported: frozenset[str],
    default_count: int,
    max_count: int,
    utc_offset_minutes: int,
) -> Search:
    """The search that the query `items` ask for, if every parameter is `supported`."""
    if len(items) > MAX_PARAMS:
        raise BadRequest(f"at most {MAX_PARAMS} search parameters", code="fhir_bad_search")
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    names = [name for name, _ in items]
    for name, value in items:
        if name not in supported | COMMON:
            hint = ", ".join(sorted(supported)) or "none"
            raise BadRequest(
                f"unknown search parameter {name[:40]!r}; supported: {hint}",
                code="fhir_unknown_parameter",
            )
        if name != "date" and names.count(name) > 1:
            raise BadRequest(f"{name}: give it once", code="fhir_bad_search")
        if not value or len(value) > MAX_VALUE:
            raise BadRequest(f"{name}: 1 to {MAX_VALUE} characters", code="fhir_bad_search")
    given = dict(items)
    if "_format" in given and given["_format"] not in FORMATS:
        raise BadRequest("_format: this server answers JSON only", code="fhir_bad_format")
    since: datetime | None = None
    until: datetime | None = None
    for name, value in items:
        if name == "date":
            low, high = date_bounds(value, zone)
            if low is not None:
                since = low if since is None else max(since, low)
            if high is not None:
                until = high if until is None else min(until, high)
    return Search(
        count=_count(given.get("_count"), default_count, max_count),
        cursor=Cursor.decode(given["_page"]) if "_page" in given else None,
        identifier=token(given["identifier"]) if "identifier" in given else None,
        patient=_patient(given["patient"]) if "patient" in given else None,
        statuses=frozenset(given["status"].split(",")) if "status" in given else None,
        since=since,
        until=until,
        others={k: v for k, v in given.items() if k not in COMMON and k not in _STANDARD},
    )


_STANDARD = frozenset({"identifier", "patient", "status", "date"})


def _count(value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise BadRequest(f"_count: 1 to {most}", code="fhir_bad_search")
    return int(value)


def token(value: str) -> tuple[str | None, str]:
    """(system or None, value) of a token parameter `[system|]value`."""
    system, bar, code = value.rpartition("|")
    if not code:
        raise BadRequest("identifier: [system|]value", code="fhir_bad_search")
    return (system or None) if bar else None, code


def _patient(value: str) -> str:
    head, _, tail = value.rpartition("/")
    if head not in ("", "Patient") or not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", tail):
        raise BadRequest("patient: Patient/<id> or <id>", code="fhir_bad_search")
    return tail


def date_bounds(value: str, zone: timezone) -> tuple[datetime | None, datetime | None]:
    """(since, until) of one `date` parameter: since inclusive, until exclusive, UTC."""
    match = _DATE.fullmatch(value)
    if match is None:
        raise BadRequest("date: [prefix]YYYY[-MM[-DD[Thh:mm:ss+zz:zz]]]", code="fhir_bad_date")
    prefix = match[1] or "eq"
    if prefix not in ("eq", "gt", "lt", "ge", "le"):
        raise BadRequest(f"date: prefix {prefix} is not supported", code="fhir_bad_date")
    try:
        start, end = _range(match, value[len(match[1] or "") :], zone)
    except (ValueError, OverflowError):  # not a date, or one UTC cannot hold (0001, 9999)
        raise BadRequest("date: not a valid date or instant", code="fhir_bad_date") from None
    return {
        "eq": (start, end),
        "ge": (start, None),
        "gt": (end, None),
        "le": (None, end),
        "lt": (None, start),
    }[prefix]


def _range(match: re.Match[str], text: str, zone: timezone) -> tuple[datetime, datetime]:
    year, month, day, clock = match[2], match[3], match[4], match[5]
    if clock:
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
        return moment.astimezone(UTC), moment.astimezone(UTC) + timedelta(seconds=1)
    first = date(int(year), int(month or 1), int(day or 1))
    if day:
        last = first + timedelta(days=1)
    elif month:
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    else:
        last = date(first.year + 1, 1, 1)
    return _midnight(first, zone), _midnight(last, zone)


def _midnight(day: date, zone: timezone) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
