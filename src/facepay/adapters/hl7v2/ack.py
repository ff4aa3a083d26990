"""ACK messages: MSA AA / AE / AR, and an ERR segment naming the field (ERR-2) and the HL7 table
0357 condition (ERR-3) when the answer is not AA."""

from __future__ import annotations

from datetime import datetime

from facepay.adapters.hl7v2.messages import ERROR_TEXT, AckCode, Hl7Reject, Parsed

APPLICATION = "FACEPAY"
VERSION = "2.5"


def escape(text: str) -> str:
    """Text made safe inside a field: the separators escaped, control characters dropped."""
    out = (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    return "".join(c for c in out if c.isprintable())


def timestamp(at: datetime) -> str:
    """An HL7 DTM: YYYYMMDDHHMMSS+ZZZZ."""
    return at.strftime("%Y%m%d%H%M%S%z")


def header(
    *,
    message_type: str,
    control_id: str,
    at: datetime,
    sender: str,
    receiver_application: str,
    receiver_facility: str,
    charset: str,
) -> str:
    """An MSH segment from facepay (MSH-3 FACEPAY, MSH-4 the site) to the hospital system."""
    fields = [  # MSH-3 to MSH-18 (MSH-1 and MSH-2 are the separators themselves)
        APPLICATION,
        escape(sender),
        escape(receiver_application),
        escape(receiver_facility),
        timestamp(at),
        "",
        message_type,
        escape(control_id),
        "P",
        VERSION,
        "",
        "",
        "",
        "",
        "",
        escape(charset),
    ]
    while fields[-1] == "":
        fields.pop()
    return "MSH|^~\\&|" + "|".join(fields)


def ack_for(
    *,
    control_id: str,
    event: str,
    code: AckCode,
    at: datetime,
    site: str,
    to_application: str,
    to_facility: str,
    charset: str,
    text: str = "",
    reject: Hl7Reject | None = None,
) -> str:
    """The ACK of a message, segments separated by CR (no trailing CR inside the frame)."""
    msh = header(
        message_type=f"ACK^{event}^ACK" if event else "ACK",
        control_id=f"ACK{control_id}"[:199],
        at=at,
        sender=site,
        receiver_application=to_application,
        receiver_facility=to_facility,
        charset=charset,
    )
    msa = f"MSA|{code}|{escape(control_id)}"
    if text:
        msa += f"|{escape(text[:80])}"
    segments = [msh, msa]
    if reject is not None:
        condition = f"{reject.code}^{ERROR_TEXT.get(reject.code, 'Error')}^HL70357"
        location = reject.location or ""
        segments.append(f"ERR||{location}|{condition}|E||||{escape(reject.text)}")
    return "\r".join(segments)


def ack_of(
    parsed: Parsed | None,
    *,
    code: AckCode,
    at: datetime,
    site: str,
    charset: str,
    reject: Hl7Reject | None = None,
    note: str = "",
) -> str:
    """The ACK answering `parsed` (None: a message whose header could not be read); `note`
    is MSA-3 of an AA (what was made: a bill id, a stay id)."""
    return ack_for(
        control_id=parsed.control_id if parsed else "",
        event=parsed.msh.get(9, 2) if parsed else "",
        code=code,
        at=at,
        site=site,
        to_application=parsed.sending_application if parsed else "",
        to_facility=parsed.sending_facility if parsed else "",
        charset=charset,
        text=reject.text if reject else note,
        reject=reject,
    )
