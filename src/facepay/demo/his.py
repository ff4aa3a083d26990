"""The demo hospital information system (HIS): what it charges and what it hears.

A HIS keeps its own ledger: every charge it sent to facepay (over HL7 v2 as a DFT^P03, or over
FHIR as an Invoice of ChargeItems) with the amount it charged, and every notification it heard
back (an MLLP DFT^P03 or a FHIR rest-hook) that a bill was paid or refunded. At night it states
its day as a FHIR R4 PaymentReconciliation: one `detail` per charge it handed to facepay for
collection (type `payment`, the amount it charged) and per refund it heard of (type
`adjustment`, negative). That file is the HIS's side of `facepay reconcile`.

This module is the HIS's own logic (messages it builds, its ledger, its day file); the sockets
are in facepay.demo.his_wire. Money is integer fen throughout; yuan appear only as the exact
decimal text of the wire formats.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from facepay.adapters.fhir.common import (
    CS_VISIT_TYPE,
    EXT_HOSPITAL_TIER,
    EXT_ITEM_CLASS,
    SID_BILL_REF,
    SID_RESIDENT_ID,
)
from facepay.adapters.hl7v2.ack import escape
from facepay.adapters.hl7v2.notifier import yuan

Channel = Literal["mllp", "fhir"]
HIS_APPLICATION = "DEMOHIS"
HIS_FACILITY = "DEMOHIS"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/payment-type"
LEDGER_LIMIT = 10_000
"""Charges one ledger keeps (a demo day has a handful; the bound keeps memory bounded)."""
_YUAN = re.compile(r'"\$yuan:(-?\d+\.\d{2})"')


class HisError(RuntimeError):
    """The demo HIS got an answer it cannot take."""


@dataclass(frozen=True)
class ChargeLine:
    """One fee item the HIS charges: code, name, insurance class, unit price, quantity."""

    code: str
    name: str
    item_class: Literal["A", "B", "C"]
    unit_fen: int
    quantity: int = 1

    @property
    def amount_fen(self) -> int:
        """Unit price times quantity."""
        return self.unit_fen * self.quantity


@dataclass
class Charge:
    """One charge in the HIS's ledger and what became of it."""

    ref: str
    """The HIS's own invoice identifier: PV1-19 of the DFT, or the Invoice identifier."""
    channel: Channel
    lines: tuple[ChargeLine, ...]
    sent_at: datetime
    answer: str = ""
    """The ACK code (AA, AE, AR) or the HTTP status the HIS got back."""
    bill_id: str | None = None
    heard: dict[str, int] = field(default_factory=dict)
    """Channel ("mllp", "fhir") -> the paid amount that notification stated."""
    refunded_fen: int = 0

    @property
    def amount_fen(self) -> int:
        """What the HIS charged."""
        return sum(line.amount_fen for line in self.lines)


class Ledger:
    """The HIS's record of its charges and of the notifications it heard (thread-safe: the
    MLLP inbox and the rest-hook receiver write from their own threads)."""

    def __init__(self) -> None:
        self._charges: dict[str, Charge] = {}
        self._events: set[str] = set()
        self.repeats = 0
        """Notifications heard again under an event id already taken (dropped)."""
        self.unknown: list[str] = []
        """Notifications of an invoice the HIS never charged."""
        self._changed = threading.Condition()

    def charged(self, charge: Charge) -> None:
        """Record a charge as sent (before it is sent: a charge lost on the way stays here)."""
        with self._changed:
            if charge.ref in self._charges:
                raise HisError(f"invoice {charge.ref} was charged already")
            if len(self._charges) >= LEDGER_LIMIT:
                raise HisError(f"the ledger holds {LEDGER_LIMIT} charges already")
            self._charges[charge.ref] = charge

    def answered(self, ref: str, answer: str, bill_id: str | None) -> None:
        """What facepay (or whatever answered on the way) said to the charge."""
        with self._changed:
            charge = self._charges[ref]
            charge.answer, charge.bill_id = answer, bill_id

    def heard(self, event_id: str, channel: Channel, ref: str, *, paid_fen: int | None,
              refunded_fen: int | None) -> bool:  # fmt: skip
        """A notification of `ref` under `event_id`; False if that event was heard before (a
        redelivery, dropped) or names no charge of the HIS."""
        with self._changed:
            key = f"{channel}:{event_id}"
            if key in self._events:
                self.repeats += 1
                return False
            if len(self._events) >= 4 * LEDGER_LIMIT:
                raise HisError("too many notifications for one ledger")
            self._events.add(key)
            charge = self._charges.get(ref)
            if charge is None:
                self.unknown.append(ref)
                return False
            if paid_fen is not None:
                charge.heard[channel] = paid_fen
            if refunded_fen is not None and channel == "mllp":
                # Both channels tell of a refund; the MLLP one is counted, so once.
                charge.refunded_fen += refunded_fen
            self._changed.notify_all()
            return True

    def charges(self) -> list[Charge]:
        """Every charge, in the order charged."""
        with self._changed:
            return list(self._charges.values())

    def get(self, ref: str) -> Charge:
        """One charge."""
        with self._changed:
            return self._charges[ref]

    def wait_heard(self, refs: Iterable[str], channels: Iterable[Channel], timeout: float) -> bool:
        """Block until every charge of `refs` was heard paid on every channel (False on
        timeout)."""
        wanted = [(ref, channel) for ref in refs for channel in channels]
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(c in self._charges[r].heard for r, c in wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def day_document(self, *, site: str, day: date, created: datetime) -> dict[str, Any]:
        """The HIS's day as a FHIR R4 PaymentReconciliation (money as exact yuan decimals)."""
        details: list[dict[str, Any]] = []
        total = 0
        for charge in self.charges():
            rows = [("payment", charge.amount_fen)]
            if charge.refunded_fen:
                rows.append(("adjustment", -charge.refunded_fen))
            for kind, fen in rows:
                total += fen
                details.append({
                    "identifier": {"system": f"urn:demohis:{site}:invoice", "value": charge.ref},
                    "type": {"coding": [{"system": PAYMENT_TYPE, "code": kind}]},
                    "date": charge.sent_at.date().isoformat(),
                    "amount": money(fen),
                })  # fmt: skip
        return {
            "resourceType": "PaymentReconciliation",
            "id": f"demohis-{day:%Y%m%d}",
            "status": "active",
            "period": {"start": day.isoformat(), "end": day.isoformat()},
            "created": created.isoformat(),
            "paymentDate": day.isoformat(),
            "paymentAmount": money(total),
            "outcome": "complete",
            "disposition": f"the day of {HIS_APPLICATION} at {site}: charges handed to facepay",
            "detail": details,
        }


def money(fen: int) -> dict[str, str]:
    """A CNY Money whose value is written as the exact decimal (see `fhir_json`)."""
    return {"value": f"$yuan:{yuan(fen)}", "currency": "CNY"}


def fhir_json(document: dict[str, Any]) -> bytes:
    """`document` as JSON, each `money` value a bare decimal number (123.45), never a float."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return _YUAN.sub(r"\1", text).encode("utf-8")


def fen_of(value: object) -> int:
    """A yuan amount (decimal text or JSON number read as Decimal) as integer fen, exactly;
    HisError for anything else."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise HisError(f"not an amount: {value!r}") from None
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value():
        raise HisError(f"not an amount in fen: {value!r}")
    return int(fen)


def _msh(kind: str, control: str, *, site: str, at: datetime) -> str:
    return (
        f"MSH|^~\\&|{HIS_APPLICATION}|{HIS_FACILITY}|FACEPAY|{site}|{at:%Y%m%d%H%M%S}||{kind}"
        f"|{control}|P|2.5||||||UNICODE UTF-8"
    )


def _pid(mr: str, id_number: str | None = None, name: str = "") -> str:
    ids = f"{escape(mr)}^^^HIS^MR" + (f"~{escape(id_number)}^^^CHN^NNCHN" if id_number else "")
    family, given = name[:1], name[1:]
    return f"PID|1||{ids}||{escape(family)}^{escape(given)}" if name else f"PID|1||{ids}"


def register_message(
    control: str, *, site: str, mr: str, id_number: str, name: str, at: datetime
) -> str:
    """ADT^A04: register the patient (MR number + resident ID number, the registry's name)."""
    return "\r".join([
        _msh("ADT^A04^ADT_A01", control, site=site, at=at),
        f"EVN|A04|{at:%Y%m%d%H%M%S}",
        _pid(mr, id_number, name),
        "PV1|1|O",
    ])  # fmt: skip


def charge_message(control: str, charge: Charge, *, site: str, mr: str, day: date) -> str:
    """DFT^P03 of an outpatient visit: PV1-19 the HIS's invoice identifier, one FT1 a line."""
    when = f"{day:%Y%m%d}"
    ft1 = [
        f"FT1|{n}|||{when}|{when}|CG|{escape(line.code)}^{escape(line.name)}|||{line.quantity}"
        f"|{yuan(line.amount_fen)}|{yuan(line.unit_fen)}||{line.item_class}"
        for n, line in enumerate(charge.lines, start=1)
    ]
    return "\r".join([
        _msh("DFT^P03^DFT_P03", control, site=site, at=charge.sent_at),
        f"EVN|P03|{charge.sent_at:%Y%m%d%H%M%S}",
        _pid(mr),
        f"PV1|1|O|||||||||||||||||{escape(charge.ref)}",
        *ft1,
    ])  # fmt: skip


def invoice_resource(charge: Charge, *, id_number: str, day: date, tier: int) -> dict[str, Any]:
    """An Invoice of contained ChargeItems for the patient (by resident ID number)."""
    subject = {"identifier": {"system": SID_RESIDENT_ID, "value": id_number}}
    items = [
        {
            "resourceType": "ChargeItem",
            "id": f"c{n}",
            "extension": [{"url": EXT_ITEM_CLASS, "valueCode": line.item_class}],
            "status": "billable",
            "code": {"coding": [{"system": "urn:demohis:fee", "code": line.code,
                                 "display": line.name}]},
            "subject": subject,
            "occurrenceDateTime": day.isoformat(),
            "quantity": {"value": line.quantity},
            "priceOverride": money(line.unit_fen),
        }
        for n, line in enumerate(charge.lines, start=1)
    ]  # fmt: skip
    return {
        "resourceType": "Invoice",
        "contained": items,
        "identifier": [{"system": "urn:demohis:invoice", "value": charge.ref}],
        "status": "issued",
        "type": {"coding": [{"system": CS_VISIT_TYPE, "code": "outpatient"}]},
        "extension": [{"url": EXT_HOSPITAL_TIER, "valueInteger": tier}],
        "subject": subject,
        "lineItem": [
            {"sequence": n, "chargeItemReference": {"reference": f"#c{n}"}}
            for n in range(1, len(items) + 1)
        ],
        "totalNet": money(charge.amount_fen),
    }


def invoice_ref(invoice: dict[str, Any]) -> str | None:
    """The HIS's identifier of an Invoice facepay sends back (system his-invoice)."""
    for identifier in invoice.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == SID_BILL_REF:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None
