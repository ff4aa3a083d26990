"""Golden request/answer pairs for every supported message: one scripted day (an outpatient
payment and its cancel, a reversal, a whole stay and its undoing, the day's statements) through
the real client and the simulated platform. Each file under tests/golden/nhsa/ is compared byte
for byte; `FACEPAY_UPDATE_GOLDEN=1` rewrites them."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from tests.unit.adapters.nhsa.conftest import CASHIER, KIOSK, NOW, SITE, Platform

from facepay.adapters.nhsa.inpatient import NhsaInpatient
from facepay.adapters.nhsa.messages import parse_answer, parse_request
from facepay.adapters.nhsa.payloads import INPUTS, NAMES, parse_input
from facepay.adapters.nhsa.reconciliation import DayTotals, fetch_day
from facepay.adapters.nhsa.wire import encode

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "nhsa"


def _script(p: Platform) -> None:
    claim = p.claim()
    p.platform.settle(claim)  # 9001 1101 2201 2204 2206 2207
    p.platform.cancel(
        hospital_id=SITE.hospital_id, key=claim.key, cancel_key="refund-1", operator=CASHIER
    )  # 9001 (the cashier's) 2208
    settled = next(iter(p.sim.settlements.values()))
    visit, psn_no = settled.visit.mdtrt_id, settled.visit.psn_no
    for infno, data in (
        ("2205", {"mdtrt_id": visit, "chrg_bchno": "0000", "psn_no": psn_no}),
        ("2202", {"psn_no": psn_no, "mdtrt_id": visit, "ipt_otp_no": claim.visit_ref}),
    ):
        p.client.send(SITE, CASHIER, infno, {"data": data})
    second = p.claim("pay-2")
    p.platform.settle(second)
    row = p.log.find(SITE.hospital_id, infno="2207", ref="pay-2", states=("answered",))[0]
    assert p.client.reverse(SITE, CASHIER, msgid=row.msgid, infno="2207", body=row.body)  # 2601
    ward = NhsaInpatient(p.client)
    stay = ward.admit(
        SITE,
        CASHIER,
        id_number=claim.id_number,
        name=claim.person_name,
        ipt_no="ZY20261130007",
        hospital_tier=3,
        diagnosis=("J18.900", "肺炎"),
        ref="stay-1",
    )
    ward.upload(SITE, CASHIER, stay, claim.bill, batch="D1", ref="stay-1")
    ward.cancel_fees(SITE, CASHIER, stay, ref="stay-1", feedetl_sn="D1-0003")
    ward.discharge(SITE, CASHIER, stay, at=NOW.replace(tzinfo=None), ref="stay-1")
    total = 2500 + 4665
    ward.presettle(SITE, CASHIER, stay, total_fen=total, ref="stay-1")
    settled_stay = ward.settle(SITE, CASHIER, stay, total_fen=total, ref="stay-1")
    ward.cancel_settlement(SITE, CASHIER, stay, setl_id=settled_stay.platform_ref, ref="stay-1")
    ward.cancel_discharge(SITE, CASHIER, stay, ref="stay-1")
    ward.cancel_fees(SITE, CASHIER, stay, ref="stay-1")
    ward.cancel_admission(SITE, CASHIER, stay, ref="stay-1")
    fetch_day(p.client, SITE, date(2026, 11, 30), ours=DayTotals())


def test_every_message_matches_its_golden_file(platform: Platform) -> None:
    _script(platform)
    first: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for request, answer in platform.exchanges:
        first.setdefault(str(request["infno"]), (request, answer))
    assert sorted(first) == sorted(INPUTS), "the script sends every supported message"
    drifted = []
    for infno, (request, answer) in sorted(first.items()):
        assert answer["infcode"] == 0, (infno, answer["err_msg"])
        # What was sent and answered reads back through the models.
        parse_input(infno, parse_request(request).input)
        parse_answer(answer)
        path = GOLDEN / f"{infno}-{NAMES[infno]}.json"
        text = encode({"request": request, "answer": answer}, indent=2).decode() + "\n"
        if os.environ.get("FACEPAY_UPDATE_GOLDEN") == "1":
            GOLDEN.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            drifted.append(path.name)
    assert not drifted, f"golden files differ (FACEPAY_UPDATE_GOLDEN=1 to accept): {drifted}"
    expected = {f"{i}-{NAMES[i]}.json" for i in INPUTS}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


def test_the_msgid_is_code_time_and_sequence(platform: Platform) -> None:
    platform.platform.settle(platform.claim())
    request = platform.exchanges[0][0]
    assert request["msgid"] == "H31010500012" + "20261130101500" + "0001"
    assert len(request["msgid"]) == 30
    assert request["opter_type"] == "2"  # a kiosk acting on its own
    assert request["inf_time"] == "2026-11-30 10:15:00"
    assert KIOSK.id.startswith("T")
