"""HL7 v2 test messages (synthetic people) and the golden-file check of tests/golden/hl7/."""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "hl7"
_ID = re.compile(r"\b([a-z]{3})_[0-9a-f]{16,32}\b")


_TIME = re.compile(r"\b20\d{12}(?:[+-]\d{4})?\b")


def canonical(text: str, *, times: bool = False) -> str:
    """Segments one per line, facepay's random ids replaced by their kind (and with `times`,
    the timestamps of a message made now, and the event sequence numbers)."""
    text = _ID.sub(lambda m: f"<{m.group(1)}>", text.replace("\r", "\n").strip()) + "\n"
    if times:
        text = re.sub(r"\|hx:\d+\|", "|hx:<seq>|", _TIME.sub("<time>", text))
    return text


def check_golden(name: str, text: str, *, times: bool = False) -> None:
    """Compare with tests/golden/hl7/<name> (FACEPAY_UPDATE_GOLDEN=1 writes it instead)."""
    path = GOLDEN / name
    got = canonical(text, times=times)
    if os.environ.get("FACEPAY_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with FACEPAY_UPDATE_GOLDEN=1"
    want = path.read_text(encoding="utf-8")
    assert got == want, f"{path} drifted (FACEPAY_UPDATE_GOLDEN=1 to accept):\n{got}"


def msh(
    kind: str, control: str, *, charset: str = "", site: str = "h1", at: str = "20260504090000"
) -> str:
    """An MSH from the HIS `HIS`/`FAC` to facepay at `site`."""
    text = f"MSH|^~\\&|HIS|FAC|FACEPAY|{site}|{at}||{kind}|{control}|P|2.5"
    return text + ("||||||" + charset if charset else "")


def pid(mr: str, id_number: str | None, name: str = "") -> str:
    """A PID with the MR number and (if given) the resident ID card number."""
    ids = f"{mr}^^^HIS^MR" + (f"~{id_number}^^^CHN^NNCHN" if id_number else "")
    return f"PID|1||{ids}||{name}"


def message(*segments: str) -> str:
    """Segments joined by CR."""
    return "\r".join(segments)


def register(control: str, mr: str, id_number: str, name: str, *, charset: str = "") -> str:
    """ADT^A04."""
    return message(
        msh("ADT^A04^ADT_A01", control, charset=charset),
        "EVN|A04|20260504090000",
        pid(mr, id_number, name),
        "PV1|1|O",
    )


def charges(
    control: str,
    mr: str,
    visit: str,
    *lines: tuple[str, str, str, str, str],
    patient_class: str = "O",
    day: str = "20260504",
) -> str:
    """DFT^P03 with one FT1 per (code, name, class, unit yuan, quantity)."""
    ft1 = [
        f"FT1|{i}|||{day}|{day}|CG|{code}^{name}|||{qty}||{price}||{klass}"
        for i, (code, name, klass, price, qty) in enumerate(lines, start=1)
    ]
    return message(
        msh("DFT^P03^DFT_P03", control),
        "EVN|P03|20260504090000",
        pid(mr, None),
        f"PV1|1|{patient_class}|||||||||||||||||{visit}",
        *ft1,
    )
