"""The demo HIS's own logic: its messages (golden), its ledger (each charge once, each
notification once, waits), its day as an R4 PaymentReconciliation with exact money."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.invoice import Invoice
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation

from facepay.adapters.hl7v2.messages import parse
from facepay.demo.his import (
    Charge,
    ChargeLine,
    HisError,
    Ledger,
    charge_message,
    fen_of,
    fhir_json,
    invoice_ref,
    invoice_resource,
    register_message,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "hisdemo"
AT = datetime(2026, 5, 4, 1, 30, tzinfo=UTC)
DAY = date(2026, 5, 4)
LINES = (
    ChargeLine("A-AMX", "阿莫西林胶囊", "A", 1_850, 2),
    ChargeLine("C-VIT", "维生素C片", "C", 1_205),
)


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/hisdemo/<name> (FACEPAY_UPDATE_GOLDEN=1 writes it)."""
    path = GOLDEN / name
    if os.environ.get("FACEPAY_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with FACEPAY_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path} drifted"


def charge(ref: str = "OP20260504-0001", channel: str = "mllp") -> Charge:
    return Charge(ref, channel, LINES, AT)  # type: ignore[arg-type]


def test_the_messages_are_golden_and_parse() -> None:
    a04 = register_message("DH1", site="hsp_1", mr="MR0001", id_number="110101199003077777",
                           name="王小明", at=AT)  # fmt: skip
    dft = charge_message("DH2", charge(), site="hsp_1", mr="MR0001", day=DAY)
    golden("adt_a04.hl7", a04.replace("\r", "\n") + "\n")
    golden("dft_p03.hl7", dft.replace("\r", "\n") + "\n")
    parsed = parse(dft)
    assert parsed.message_type == "DFT^P03"
    assert parsed.one("PV1").get(19) == "OP20260504-0001"
    ft1 = parsed.segments("FT1")
    assert [(f.get(10), f.get(11), f.get(12), f.get(14)) for f in ft1] == [
        ("2", "37.00", "18.50", "A"),
        ("1", "12.05", "12.05", "C"),
    ]
    assert parse(a04).one("PID").get(5) + parse(a04).one("PID").get(5, 2) == "王小明"


def test_the_invoice_is_r4_with_exact_money_and_golden() -> None:
    made = charge("INV20260504-0001", "fhir")
    raw = fhir_json(invoice_resource(made, id_number="110101199003077777", day=DAY, tier=3))
    golden("invoice.json", json.dumps(json.loads(raw), ensure_ascii=False, indent=2) + "\n")
    assert b'"value":18.50,' in raw  # a bare decimal number, two places, never a float
    Invoice.model_validate(json.loads(raw))
    assert invoice_ref({"identifier": [{"system": "https://facepay.dev/fhir/sid/his-invoice",
                                        "value": "INV-1"}]}) == "INV-1"  # fmt: skip
    assert invoice_ref({"identifier": [{"system": "urn:other", "value": "X"}]}) is None


def test_the_day_is_an_r4_payment_reconciliation() -> None:
    ledger = Ledger()
    ledger.charged(charge("OP-1"))
    ledger.charged(charge("INV-1", "fhir"))
    ledger.heard("hsp_1:7", "mllp", "OP-1", paid_fen=None, refunded_fen=4_905)
    document = ledger.day_document(site="hsp_1", day=DAY, created=AT)
    raw = fhir_json(document)
    golden("payment_reconciliation.json",
           json.dumps(json.loads(raw), ensure_ascii=False, indent=2) + "\n")  # fmt: skip
    PaymentReconciliation.model_validate(json.loads(raw))
    rows = [(d["identifier"]["value"], d["type"]["coding"][0]["code"], d["amount"]["value"])
            for d in json.loads(raw, parse_float=str)["detail"]]  # fmt: skip
    assert rows == [("OP-1", "payment", "49.05"), ("OP-1", "adjustment", "-49.05"),
                    ("INV-1", "payment", "49.05")]  # fmt: skip
    assert json.loads(raw, parse_float=str)["paymentAmount"]["value"] == "49.05"


def test_the_ledger_takes_each_charge_and_each_event_once() -> None:
    ledger = Ledger()
    ledger.charged(charge("OP-1"))
    with pytest.raises(HisError, match="charged already"):
        ledger.charged(charge("OP-1"))
    assert ledger.heard("e:1", "mllp", "OP-1", paid_fen=4_905, refunded_fen=None)
    assert not ledger.heard("e:1", "mllp", "OP-1", paid_fen=1, refunded_fen=None)
    assert ledger.repeats == 1
    assert ledger.get("OP-1").heard == {"mllp": 4_905}
    assert not ledger.heard("e:2", "fhir", "NOT-OURS", paid_fen=1, refunded_fen=None)
    assert ledger.unknown == ["NOT-OURS"]
    assert not ledger.wait_heard(["OP-1"], ("mllp", "fhir"), timeout=0)
    assert ledger.heard("e:1", "fhir", "OP-1", paid_fen=4_905, refunded_fen=None)
    assert ledger.wait_heard(["OP-1"], ("mllp", "fhir"), timeout=0)


@pytest.mark.parametrize(("text", "fen"), [("25.50", 2_550), ("-3", -300), ("0.01", 1)])
def test_amounts_are_exact_fen(text: str, fen: int) -> None:
    assert fen_of(text) == fen


@pytest.mark.parametrize("text", ["1.234", "abc", "NaN", "Infinity", ""])
def test_an_amount_that_is_not_whole_fen_is_refused(text: str) -> None:
    with pytest.raises(HisError):
        fen_of(text)
