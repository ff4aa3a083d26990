"""The FHIR mappings: every resource the facade emits parses back with its R4B model and matches
its golden file in tests/golden/fhir/ byte for byte (after canonical formatting; regenerate with
FACEPAY_UPDATE_GOLDEN=1); money converts exactly; pushed charges map onto one bill whichever
form they come in; searches parse strictly."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from facepay.adapters.fhir import (
    billing,
    claims,
    clinical,
    medication,
    patients,
    scheduling,
    subscriptions,
)
from facepay.adapters.fhir.capability import capability_statement, searchset
from facepay.adapters.fhir.common import (
    SID_RESIDENT_ID,
    dumps,
    facepay_id,
    fen_of,
    fhir_id,
    money,
    parse_json,
)
from facepay.adapters.fhir.outcome import operation_outcome
from facepay.adapters.fhir.search import Cursor, date_bounds, parse_search
from facepay.adapters.interchange import parse_bill, shipped_policies
from facepay.demo.people import id_number
from facepay.hospital.appointments import Appointment, FeeLine, Schedule
from facepay.hospital.bills import LineOrder, PostedBill
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.hospital.inpatient import Diagnosis, Stay
from facepay.hospital.orders import DispensingLine, DispensingOrder, ExamResult, ServiceRequest
from facepay.hospital.tenants import Region
from facepay.identity.records import InsuredPerson
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.services.coverage import Coverage as Standing
from facepay.services.his_events import HisEvent
from facepay.services.ports import SettlementRecord
from facepay.shared.errors import BadRequest, InvalidInput

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "fhir"
AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
SITE = "hsp_" + "a" * 32
PERSON = "psn_" + "1" * 32
BILL = "bil_" + "2" * 32
SETTLEMENT = "stl_" + "3" * 32
CN = timezone(timedelta(hours=8))
EXT = "https://facepay.dev/fhir/StructureDefinition"

PERSON_RECORD = InsuredPerson(
    id=PERSON,
    id_number=id_number(date(1985, 6, 15), 7, male=False),
    name="王小红",
    sex="F",
    birth_date=date(1985, 6, 15),
    category="employee_active",
    insurance_card_number="IC00000007",
    phone="13700000007",
)
INSURANCE_BILL = parse_bill(
    {
        "visit_type": "outpatient",
        "hospital_tier": 2,
        "service_date": "2026-03-02",
        "lines": [
            {"code": "A-001", "name": "阿莫西林胶囊", "item_class": "A",
             "unit_price": 12_345, "quantity": "2"},
            {"code": "C-009", "name": "自费检查", "item_class": "C",
             "unit_price": 5_000, "quantity": "1.5"},
        ],
    }
)  # fmt: skip
POSTED = PostedBill(
    id=BILL,
    hospital_id=SITE,
    person_id=PERSON,
    external_ref="INV-2026-0001",
    bill=INSURANCE_BILL,
    point_of_sale="hospital",
    status="paid",
    created_at=AT,
    settlement_id=SETTLEMENT,
    paid_at=AT + timedelta(minutes=5),
    orders=(LineOrder("A-001", kind="drug", window="西药房"),),
)
SPLIT = settle(
    bill=INSURANCE_BILL,
    coverage=Coverage("employee_active", 50_000),
    accumulators=Accumulators(year=2026),
    policy=shipped_policies().pick(service_date=date(2026, 3, 2), category="employee_active"),
)
RECORD = SettlementRecord(
    id=SETTLEMENT,
    hospital_id=SITE,
    idempotency_key="k",
    fingerprint="f",
    person_id=PERSON,
    settlement=SPLIT,
    posting_key=None,
    status="settled",
    created_at=AT + timedelta(minutes=5),
    bill=INSURANCE_BILL,
)
PAID = HisEvent(
    id=f"{SITE}:41",
    seq=41,
    hospital_id=SITE,
    kind="bill.paid",
    bill_id=BILL,
    at=AT + timedelta(minutes=5),
    settlement_id=SETTLEMENT,
    amount_fen=SPLIT.medfee_sumamt,
    details={},
)
PRESCRIBED = replace(
    POSTED, orders=(LineOrder("A-001", kind="drug", window="西药房", ordered_by="stf_" + "6" * 32),)
)
RX = DispensingOrder(
    id="dsp_" + "4" * 32,
    hospital_id=SITE,
    bill_id=BILL,
    person_id=PERSON,
    window="西药房",
    lines=(
        DispensingLine("A-001", "阿莫西林胶囊", Decimal(2), 24_690, handed=Decimal(1)),
        DispensingLine("A-002", "布洛芬缓释胶囊", Decimal(1), 2_350, returned=True),
    ),
    created_at=AT + timedelta(minutes=5),
    updated_at=AT + timedelta(minutes=20),
)
REGION = Region(id="region-1", name="示例市医疗保障局", created_at=AT)


def _canonical(resource: dict[str, Any]) -> str:
    """What goes on the wire (facepay.adapters.fhir.common.dumps), keys sorted and indented."""
    wire = json.loads(dumps(resource))
    return json.dumps(wire, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _golden(name: str, resource: dict[str, Any]) -> None:
    """The resource parses back with its R4B model and is its golden file."""
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(json.loads(dumps(resource)))
    path = GOLDEN / f"{name}.json"
    text = _canonical(resource)
    if os.environ.get("FACEPAY_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with FACEPAY_UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text, f"{path} drifted from what is emitted"


def _resources() -> dict[str, dict[str, Any]]:
    standing = Standing(PERSON, "employee_active", False, Accumulators(year=2026), 50_000)
    sub = HisSubscription(
        id="sub_" + "4" * 32,
        hospital_id=SITE,
        criteria="Invoice?status=balanced",
        endpoint="http://127.0.0.1:8099/hook",
        status="active",
        cursor=40,
        created_by="terminal:trm_1",
        created_at=AT,
        reason="HIS 收费通知",
    )
    dispensed = HisEvent(
        id=f"{SITE}:42",
        seq=42,
        hospital_id=SITE,
        kind="bill.dispensed",
        bill_id=BILL,
        at=AT + timedelta(minutes=20),
        settlement_id=None,
        amount_fen=None,
        details={"handed": {"A-001": "2"}},
    )
    dispense = subscriptions.medication_dispenses(dispensed, POSTED)[0]
    invoice = billing.invoice_resource(POSTED, site_id=SITE)
    stay = Stay(
        id="sty_" + "5" * 32,
        hospital_id=SITE,
        person_id=PERSON,
        ward="心内科",
        bed="12-3",
        diagnosis=Diagnosis("I20.000", "不稳定型心绞痛"),
        attending_doctor_id="stf_" + "6" * 32,
        hospital_tier=2,
        admitted_on=date(2026, 3, 2),
        admitted_at=AT,
        admitted_by="staff:stf_1",
        identification_id="idn_1",
    )
    exam = ServiceRequest(
        id="srq_" + "7" * 32,
        hospital_id=SITE,
        bill_id=BILL,
        line_code="CT-01",
        name="胸部CT平扫",
        kind="exam",
        department="放射科",
        ordered_by="stf_" + "6" * 32,
        person_id=PERSON,
        status="reported",
        created_at=AT,
        result=ExamResult(
            summary="双肺未见明显异常。",
            conclusion="normal",
            image_ref="1.2.840.113619.2.55.3.604688119",
            performed_at=AT + timedelta(hours=1),
            recorded_at=AT + timedelta(hours=2),
            recorded_by="terminal:trm_pacs",
        ),
    )
    session = Schedule(
        id="sch_" + "8" * 32,
        hospital_id=SITE,
        department="呼吸内科",
        doctor="stf_" + "6" * 32,
        doctor_name="李医生",
        session_date=date(2026, 3, 3),
        period="am",
        start_time=time(8, 0),
        end_time=time(12, 0),
        starts_at=datetime(2026, 3, 3, 8, tzinfo=CN),
        ends_at=datetime(2026, 3, 3, 12, tzinfo=CN),
        capacity=30,
        fee=FeeLine("REG-1", "普通门诊挂号", "A", 1_000),
        hospital_tier=2,
        created_at=AT,
    )
    booking = Appointment(
        id="apt_" + "9" * 32,
        hospital_id=SITE,
        schedule_id=session.id,
        person_id=PERSON,
        slot=7,
        channel="his",
        status="booked",
        idempotency_key="k",
        booked_at=AT,
        booked_by="terminal:trm_his",
        bill_id=BILL,
    )
    return {
        "appointment": scheduling.appointment_resource(booking, session),
        "slot": scheduling.slot_resource(session, 7, held=True),
        "encounter": clinical.encounter_resource(stay),
        "service-request": clinical.service_request_resource(exam),
        "diagnostic-report": clinical.diagnostic_report_resource(exam),
        "capability-statement": capability_statement(
            base_url="http://localhost:8000/fhir/R4", date="2026-12-01"
        ),
        "operation-outcome": operation_outcome(
            400,
            "fhir_invalid_resource",
            "the Invoice does not conform to FHIR R4",
            issues=[("lineItem.0.sequence", "Input should be a valid integer")],
        ),
        "patient": patients.patient_resource(PERSON_RECORD, full_name=True),
        "patient-auditor": patients.patient_resource(PERSON_RECORD, full_name=False),
        "coverage": patients.coverage_resource(
            standing, region=REGION, region_id=REGION.id, year=2026
        ),
        "invoice": invoice,
        "charge-item": billing.charge_item_resource(POSTED, INSURANCE_BILL.lines[0]),
        "claim": claims.claim_resource(
            RECORD, region_id=REGION.id, region_name=REGION.name, site_id=SITE
        ),
        "claim-response": claims.claim_response(
            settlement=SPLIT,
            bill=INSURANCE_BILL,
            patient_id=PERSON,
            created=RECORD.created_at,
            region_id=REGION.id,
            region_name=REGION.name,
            site_id=SITE,
            record=RECORD,
        ),
        "claim-response-preauthorization": claims.claim_response(
            settlement=SPLIT,
            bill=INSURANCE_BILL,
            patient_id=PERSON,
            created=AT,
            region_id=REGION.id,
            region_name=REGION.name,
            site_id=SITE,
        ),
        "payment-notice": claims.payment_notice(PAID, day=date(2026, 3, 2)),
        "payment-reconciliation": claims.payment_reconciliation(
            site_id=SITE,
            day=date(2026, 3, 2),
            start=datetime(2026, 3, 2, tzinfo=CN),
            end=datetime(2026, 3, 3, tzinfo=CN),
            settled=[RECORD],
            reversed_=[],
            complete=True,
            created=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
            region_id=REGION.id,
            region_name=REGION.name,
        ),
        "subscription": subscriptions.subscription_resource(sub, public_key="A" * 43 + "="),
        "medication-dispense": dispense,
        "medication-request": medication.medication_request_resource(RX, 1, PRESCRIBED),
        "medication-request-returned": medication.medication_request_resource(RX, 2, None),
        "medication-dispense-line": medication.medication_dispense_resource(RX, 1),
        "notification": subscriptions.notification(PAID, resources=[invoice]),
        "searchset": searchset(
            base_url="http://localhost:8000/fhir/R4",
            resources=[invoice],
            self_link="http://localhost:8000/fhir/R4/Invoice?_count=1",
            next_link="http://localhost:8000/fhir/R4/Invoice?_count=1&_page=x",
        ),
    }


RESOURCES = _resources()


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_every_emitted_resource_is_valid_r4b_and_its_golden(name: str) -> None:
    _golden(name, RESOURCES[name])


def test_the_capability_statement_is_r4_and_the_patient_masked() -> None:
    assert RESOURCES["capability-statement"]["fhirVersion"] == "4.0.1"
    patient = RESOURCES["patient"]
    masked = patient["identifier"][0]["value"]
    assert masked == PERSON_RECORD.id_number[:6] + "*" * 8 + PERSON_RECORD.id_number[-4:]
    assert PERSON_RECORD.id_number not in json.dumps(RESOURCES, ensure_ascii=False, default=str)
    assert PERSON_RECORD.phone not in json.dumps(RESOURCES, default=str)
    assert RESOURCES["patient-auditor"]["name"][0]["text"] == "王**"


def test_the_invoice_totals_are_exact_and_each_national_amount_is_a_total() -> None:
    invoice = RESOURCES["invoice"]
    assert invoice["status"] == "balanced"
    assert invoice["totalGross"]["value"] == Decimal("321.90")
    codes = [t["category"]["coding"][0]["code"] for t in RESOURCES["claim-response"]["total"]]
    assert codes[:1] == ["medfee_sumamt"]
    assert {"fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay"} <= set(codes)


@pytest.mark.parametrize(
    ("value", "fen"),
    [(Decimal("123.45"), 12345), (7, 700), (Decimal("0.1"), 10), (Decimal("1E+2"), 10_000)],
)
def test_money_converts_exactly(value: Decimal | int, fen: int) -> None:
    assert fen_of(value, "CNY", "price") == fen
    assert fen_of(money(fen)["value"], "CNY", "price") == fen


@pytest.mark.parametrize(
    ("value", "currency"),
    [(Decimal("1.234"), "CNY"), (Decimal(-1), "CNY"), (1.5, "CNY"), (True, "CNY"), (1, "USD"),
     (Decimal("NaN"), "CNY"), ("1.00", "CNY"), (Decimal("1E+11"), "CNY")],
)  # fmt: skip
def test_money_refuses_anything_inexact_or_foreign(value: object, currency: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        fen_of(value, currency, "price")
    assert refused.value.code == "fhir_bad_money"


def test_ids_map_both_ways_and_refuse_what_names_nothing() -> None:
    assert fhir_id(BILL) == "bil-" + "2" * 32
    assert facepay_id(fhir_id(BILL), kind="bil") == BILL
    assert facepay_id(fhir_id(BILL), kind="psn") is None
    assert facepay_id("bil_x") is None
    assert facepay_id("../etc") is None


def _push_document() -> dict[str, Any]:
    subject = {"identifier": {"system": SID_RESIDENT_ID, "value": PERSON_RECORD.id_number}}

    names = {line.code: line.name for line in INSURANCE_BILL.lines}

    def item(n: int, code: str, cls: str, value: str, qty: str) -> dict[str, Any]:
        return {
            "resourceType": "ChargeItem", "id": f"c{n}", "status": "billable",
            "extension": [{"url": f"{EXT}/item-class", "valueCode": cls}],
            "code": {"coding": [{"code": code, "display": names[code]}]},
            "subject": subject, "occurrenceDateTime": "2026-03-02T09:30:00+08:00",
            "quantity": {"value": Decimal(qty)},
            "priceOverride": {"value": Decimal(value), "currency": "CNY"},
        }  # fmt: skip

    return {
        "resourceType": "Invoice",
        "contained": [item(1, "A-001", "A", "123.45", "2"), item(2, "C-009", "C", "50", "1.5")],
        "identifier": [{"value": "INV-1"}],
        "status": "issued",
        "type": {"coding": [{"system": "https://facepay.dev/fhir/CodeSystem/visit-type",
                             "code": "outpatient"}]},
        "subject": subject,
        "lineItem": [{"chargeItemReference": {"reference": "#c1"}},
                     {"chargeItemReference": {"reference": "#c2"}}],
        "totalGross": {"value": Decimal("321.90"), "currency": "CNY"},
    }  # fmt: skip


def _as_bundle(document: dict[str, Any]) -> dict[str, Any]:
    invoice = copy.deepcopy(document)
    items = invoice.pop("contained")
    for line, item in zip(invoice["lineItem"], items, strict=True):
        line["chargeItemReference"]["reference"] = f"urn:uuid:0000-{item['id']}"
    entries = [
        {"fullUrl": f"urn:uuid:0000-{i['id']}", "resource": {k: v for k, v in i.items()
         if k != "id"}, "request": {"method": "POST", "url": "ChargeItem"}}
        for i in items
    ]  # fmt: skip
    entries.append({"resource": invoice, "request": {"method": "POST", "url": "Invoice"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_contained_charge_items_and_a_transaction_bundle_make_the_same_bill() -> None:
    contained = billing.read_push(_push_document(), site_tier="secondary")
    bundled = billing.read_push(_as_bundle(_push_document()), site_tier="secondary")
    assert contained == bundled
    assert contained.bill == INSURANCE_BILL
    assert contained.external_ref == "INV-1"
    assert contained.patient.id_number == PERSON_RECORD.id_number


def _broken(change: Any) -> dict[str, Any]:
    document = _push_document()
    change(document)
    return document


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["contained"][1].update(occurrenceDateTime="2026-03-01"),  # two visit days
        lambda d: d["contained"][0].pop("extension"),  # no item class
        lambda d: d["lineItem"].pop(),  # a ChargeItem no line references
        lambda d: d.update(totalGross={"value": Decimal("321.91"), "currency": "CNY"}),
        lambda d: d.update(status="balanced"),
        lambda d: d.pop("type"),
        lambda d: d["contained"][0]["priceOverride"].update(value=Decimal("123.456")),
        lambda d: d.update(identifier=[{"value": "a b"}]),
    ],
)
def test_charges_breaking_a_rule_are_refused(change: Any) -> None:
    with pytest.raises(InvalidInput):
        billing.read_push(_broken(change), site_tier="secondary")


def test_a_malformed_resource_names_its_elements_and_is_a_400() -> None:
    document = _broken(lambda d: d["lineItem"][0].update(sequence="first"))
    with pytest.raises(BadRequest) as refused:
        billing.read_push(document, site_tier=None)
    assert refused.value.code == "fhir_invalid_resource"
    with pytest.raises(BadRequest):
        parse_json(b'{"resourceType": "Invoice", "x": NaN}')
    assert parse_json(b'{"v": 1.10}')["v"] == Decimal("1.10")


def _search(*items: tuple[str, str]) -> Any:
    return parse_search(
        list(items),
        supported=frozenset({"date", "status", "patient", "identifier"}),
        default_count=20,
        max_count=100,
        utc_offset_minutes=480,
    )


def test_dates_are_ranges_in_the_hospital_zone_and_combine() -> None:
    day = date_bounds("2026-03-02", CN)
    assert day == (datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 2, 16, tzinfo=UTC))
    assert date_bounds("gt2026-03", CN)[0] == datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert date_bounds("lt2026", CN)[1] == datetime(2025, 12, 31, 16, tzinfo=UTC)
    both = _search(("date", "ge2026-03-01"), ("date", "lt2026-03-02T12:00:00+08:00"))
    assert both.since == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert both.until == datetime(2026, 3, 2, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    "items",
    [
        [("colour", "red")],
        [("_count", "0")],
        [("_count", "101")],
        [("status", "a"), ("status", "b")],
        [("date", "ne2026-01-01")],
        [("date", "2026-13-01")],
        [("date", "lt0001-01-01")],
        [("date", "9999-12")],
        [("patient", "Practitioner/1")],
        [("_page", "not-a-cursor")],
        [("_format", "xml")],
    ],
)
def test_searches_refuse_what_they_cannot_do(items: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest):
        _search(*items)


def test_a_cursor_round_trips() -> None:
    cursor = Cursor("before", AT, BILL)
    assert _search(("_page", cursor.encode())).cursor == cursor


def test_a_value_of_the_wrong_shape_is_a_400_even_where_the_model_crashes() -> None:
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "r",
        "criteria": "Invoice?",
        "channel": {"type": "rest-hook", "endpoint": {}, "payload": "application/fhir+json"},
    }
    with pytest.raises(BadRequest) as refused:
        subscriptions.read_subscription(subscription)
    assert refused.value.code == "fhir_invalid_resource"


def _mutated(rnd: random.Random, document: Any, depth: int = 0) -> None:
    odd = [None, 1, -1, "x" * 300, [], {}, True, "2026-99-99", {"value": "1"}, [{"a": 1}],
           Decimal("0.001"), 10**30, "#c1"]  # fmt: skip
    if isinstance(document, dict | list) and document:
        key = (
            rnd.choice(list(document))
            if isinstance(document, dict)
            else rnd.randrange(len(document))
        )
        if rnd.random() < 0.5 or depth > 4:
            document[key] = rnd.choice(odd)
        else:
            _mutated(rnd, document[key], depth + 1)


def test_mangled_pushes_are_refused_with_a_code_never_an_exception() -> None:
    rnd = random.Random(13)
    for form in (_push_document, lambda: _as_bundle(_push_document())):
        for _ in range(150):
            document = form()
            for _ in range(rnd.randint(1, 3)):
                _mutated(rnd, document)
            # 400 or 422 with its code; any other exception would be a 500.
            with contextlib.suppress(InvalidInput):
                billing.read_push(document, site_tier="secondary")
