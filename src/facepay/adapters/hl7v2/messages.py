"""Parsing with python-hl7 and reading fields by their HL7 names (`PID-3`, `FT1-10`).

python-hl7 parses tolerantly (any segment order, any field count) and does not validate; what a
message of each type must carry is checked here and in `facepay.adapters.hl7v2.mapping`, and a
missing or wrong field is reported as `Hl7Reject` naming the field for the ACK's ERR segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import hl7  # type: ignore[import-untyped]  # python-hl7 ships no type information

AckCode = Literal["AA", "AE", "AR"]

# HL7 table 0357, the message error condition codes an ERR-3 carries.
SEGMENT_SEQUENCE = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT = 201
UNSUPPORTED_PROCESSING_ID = 202
UNSUPPORTED_VERSION = 203
UNKNOWN_KEY = 204
DUPLICATE_KEY = 205
RECORD_LOCKED = 206
INTERNAL_ERROR = 207

ERROR_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    RECORD_LOCKED: "Application record locked",
    INTERNAL_ERROR: "Application internal error",
}

MAX_TEXT = 200
"""The longest error text an ACK carries (MSA-3 / ERR-8)."""


class Hl7Reject(Exception):  # noqa: N818 - an answer, not a failure of ours
    """A message answered AE (content) or AR (header, type): nothing of it is applied."""

    def __init__(self, text: str, *, location: str | None, code: int, ack: AckCode = "AE") -> None:
        super().__init__(text)
        self.text = text[:MAX_TEXT]
        self.location = location
        """ERR-2: `SEG^set id^field` (e.g. `PID^1^3`), None when no field is to blame."""
        self.code = code
        self.ack = ack


def missing(location: str, what: str) -> Hl7Reject:
    """A required field is empty."""
    return Hl7Reject(f"{what} is required", location=location, code=REQUIRED_FIELD_MISSING)


def wrong(location: str, what: str, code: int = DATA_TYPE_ERROR) -> Hl7Reject:
    """A field holds something it may not."""
    return Hl7Reject(what, location=location, code=code)


@dataclass(frozen=True)
class Seg:
    """One segment and its position among the segments of its type (the ERR set id)."""

    segment: hl7.Segment
    number: int

    @property
    def name(self) -> str:
        """The segment id: MSH, PID, FT1 …"""
        return str(self.segment[0])

    def where(self, field: int, component: int | None = None) -> str:
        """ERR-2 of a field (and component) of this segment."""
        base = f"{self.name}^{self.number}^{field}"
        return base if component is None else f"{base}^1^{component}"

    def get(self, field: int, component: int = 1, repetition: int = 1) -> str:  # noqa: PLR0911
        """A component's text, '' when absent (fields, repetitions, components count from 1)."""
        seg = self.segment
        if field >= len(seg):
            return ""
        value = seg[field]
        if not isinstance(value, hl7.Field) and not isinstance(value, list):
            return str(value).strip() if (component, repetition) == (1, 1) else ""
        if isinstance(value, hl7.Field) and value and isinstance(value[0], hl7.Repetition):
            if repetition > len(value):
                return ""
            value = value[repetition - 1]
        elif repetition != 1:
            return ""
        if not isinstance(value, list):
            return str(value).strip() if component == 1 else ""
        if component > len(value):
            return ""
        part = value[component - 1]
        if isinstance(part, list):
            part = part[0] if part else ""
        return str(part).strip()

    def repetitions(self, field: int) -> int:
        """How many repetitions the field holds (0 when empty)."""
        seg = self.segment
        if field >= len(seg) or not str(seg[field]):
            return 0
        value = seg[field]
        if isinstance(value, hl7.Field) and value and isinstance(value[0], hl7.Repetition):
            return len(value)
        return 1

    def text(self, field: int) -> str:
        """The whole field as sent."""
        return str(self.segment[field]).strip() if field < len(self.segment) else ""


@dataclass(frozen=True)
class Parsed:
    """A parsed message and its header fields."""

    message: hl7.Message
    msh: Seg

    @property
    def sending_application(self) -> str:
        """MSH-3 (first component)."""
        return self.msh.get(3)

    @property
    def sending_facility(self) -> str:
        """MSH-4 (first component)."""
        return self.msh.get(4)

    @property
    def receiving_facility(self) -> str:
        """MSH-6 (first component)."""
        return self.msh.get(6)

    @property
    def control_id(self) -> str:
        """MSH-10."""
        return self.msh.text(10)

    @property
    def message_type(self) -> str:
        """`ADT^A04` from MSH-9 (code and trigger event)."""
        return f"{self.msh.get(9, 1)}^{self.msh.get(9, 2)}"

    @property
    def version(self) -> str:
        """MSH-12."""
        return self.msh.get(12)

    def segments(self, name: str) -> list[Seg]:
        """Every segment of a type, in order (none: an empty list)."""
        found = [s for s in self.message if str(s[0]) == name]
        return [Seg(s, i) for i, s in enumerate(found, start=1)]

    def one(self, name: str) -> Seg:
        """The first segment of a type; a missing one is a segment sequence error."""
        found = self.segments(name)
        if not found:
            raise Hl7Reject(
                f"the message has no {name} segment", location=name, code=SEGMENT_SEQUENCE
            )
        return found[0]


def parse(text: str) -> Parsed:
    """Parse a decoded message (segments end in CR; a LF some systems send is taken as one)."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Reject(
            "the message does not start with an MSH segment",
            location="MSH",
            code=SEGMENT_SEQUENCE,
            ack="AR",
        )
    try:
        message = hl7.parse(text)
    except Exception as error:  # any parser failure is the sender's
        raise Hl7Reject(
            f"unparseable message: {error}", location="MSH", code=SEGMENT_SEQUENCE, ack="AR"
        ) from None
    msh = Seg(message.segment("MSH"), 1)
    parsed = Parsed(message, msh)
    if not parsed.control_id:
        raise Hl7Reject(
            "MSH-10 message control id is required",
            location="MSH^1^10",
            code=REQUIRED_FIELD_MISSING,
            ack="AR",
        )
    if len(parsed.control_id) > 199 or not parsed.control_id.isprintable():
        raise Hl7Reject(
            "MSH-10: up to 199 printable characters",
            location="MSH^1^10",
            code=DATA_TYPE_ERROR,
            ack="AR",
        )
    return parsed
