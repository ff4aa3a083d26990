"""Claim, ClaimResponse, PaymentNotice and PaymentReconciliation: the settlement side.

A pre-settlement is a ClaimResponse of `use = preauthorization` (nothing stored); a paid bill's
settlement reads as a Claim of `use = claim` and its ClaimResponse, both with the settlement's
id. Each national amount is one `total` whose category is a code of
`https://facepay.dev/fhir/CodeSystem/nhsa-amount` named as the national interface names the
field (medfee_sumamt, fund_pay_sumamt, hifp_pay, ...); each line's submitted amount is an
`item.adjudication` of category `submitted`. The explanation of the split is `processNote`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from facepay.adapters.fhir.common import (
    CS_NHSA_AMOUNT,
    EXT_ITEM_CLASS,
    SID_REGION,
    SID_SETTLEMENT,
    SID_SITE,
    emit,
    facepay_id,
    fhir_id,
    money,
    parse_resource,
    reference_id,
)
from facepay.insurance.model import Bill, Settlement
from facepay.services.his_events import HisEvent
from facepay.services.ports import SettlementRecord
from facepay.shared.errors import InvalidInput, NotFound
from facepay.shared.money import round_half_up

NHSA_AMOUNTS: tuple[tuple[str, str], ...] = (
    ("medfee_sumamt", "医疗费总额 total medical fees"),
    ("fulamt_ownpay_amt", "全自费金额 fully self-paid (class C)"),
    ("overlmt_selfpay", "超限价自费 above the price ceiling"),
    ("preselfpay_amt", "先行自付 self-paid share of class B"),
    ("inscp_scp_amt", "符合政策范围金额 within the policy's scope"),
    ("act_pay_dedc", "实际支付起付线 deductible paid"),
    ("hifp_pay", "统筹基金支出 pooling fund"),
    ("pool_prop_selfpay", "统筹内自付 self-paid share within pooling"),
    ("hifmi_pay", "大病保险 critical-illness insurance"),
    ("maf_pay", "医疗救助 medical assistance"),
    ("fund_pay_sumamt", "基金支付总额 all funds"),
    ("psn_part_amt", "个人负担 the person's part"),
    ("acct_pay", "个人账户 personal account"),
    ("psn_cash_pay", "现金 cash"),
    ("balc", "账户余额 account balance after"),
)
"""The national settlement fields, in the interface's order, with their displays."""
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/payment-type"
PAYMENT_STATUS = "http://terminology.hl7.org/CodeSystem/paymentstatus"
CS_PAYMENT_EVENT = "https://facepay.dev/fhir/CodeSystem/payment-event"
EXT_NHSA_TOTAL = "https://facepay.dev/fhir/StructureDefinition/nhsa-amount-total"
"""The day's net of one national amount: sub-extensions `code` (nhsa-amount) and `amount`."""


def _claim_type(visit_type: str) -> dict[str, Any]:
    code = "institutional" if visit_type == "inpatient" else "professional"
    return {"coding": [{"system": CLAIM_TYPE, "code": code}]}


def _bureau(region_id: str, region_name: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"identifier": {"system": SID_REGION, "value": region_id}}
    if region_name:
        found["display"] = region_name
    return found


def _site(site_id: str) -> dict[str, Any]:
    return {"identifier": {"system": SID_SITE, "value": site_id}}


def nhsa_totals(settlement: Settlement) -> list[dict[str, Any]]:
    """One `total` per national amount."""
    return [
        {
            "category": {"coding": [{"system": CS_NHSA_AMOUNT, "code": code, "display": text}]},
            "amount": money(int(getattr(settlement, code))),
        }
        for code, text in NHSA_AMOUNTS
    ]


def _items(bill: Bill) -> list[dict[str, Any]]:
    return [
        {
            "itemSequence": n,
            "adjudication": [
                {
                    "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
                    "amount": money(round_half_up(line.unit_price * line.quantity)),
                }
            ],
        }
        for n, line in enumerate(bill.lines, 1)
    ]


def claim_response(
    *,
    settlement: Settlement,
    bill: Bill | None,
    patient_id: str,
    created: datetime,
    region_id: str,
    region_name: str | None,
    site_id: str,
    record: SettlementRecord | None = None,
) -> dict[str, Any]:
    """The adjudication: `record` given, of that settlement (use = claim, its id); without it,
    a pre-settlement (use = preauthorization, no id: nothing is stored)."""
    resource: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "status": "cancelled" if record is not None and record.status == "reversed" else "active",
        "type": _claim_type(settlement.visit_type),
        "use": "claim" if record is not None else "preauthorization",
        "patient": {"reference": f"Patient/{fhir_id(patient_id)}"},
        "created": created.isoformat(timespec="seconds"),
        "insurer": _bureau(region_id, region_name),
        "requestor": _site(site_id),
        "outcome": "complete",
        "disposition": f"policy {settlement.policy_id}",
        "item": _items(bill) if bill is not None else None,
        "total": nhsa_totals(settlement),
        "processNote": [
            {"number": n, "type": "display", "text": step.text}
            for n, step in enumerate(settlement.explanation, 1)
        ]
        or None,
    }
    if record is not None:
        resource["id"] = fhir_id(record.id)
        resource["identifier"] = [{"system": SID_SETTLEMENT, "value": record.id}]
        resource["request"] = {"reference": f"Claim/{fhir_id(record.id)}"}
    return emit(resource)


def claim_resource(
    record: SettlementRecord, *, region_id: str, region_name: str | None, site_id: str
) -> dict[str, Any]:
    """A settlement as the Claim (use = claim) it answered."""
    settlement = record.settlement
    items = []
    for n, line in enumerate(record.bill.lines if record.bill else (), 1):
        items.append(
            {
                "extension": [{"url": EXT_ITEM_CLASS, "valueCode": line.item_class}],
                "sequence": n,
                "productOrService": {
                    "coding": [{"code": line.code, "display": line.name}],
                    "text": line.name,
                },
                "servicedDate": settlement.service_date.isoformat(),
                "quantity": {"value": line.quantity},
                "unitPrice": money(line.unit_price),
                "net": money(round_half_up(line.unit_price * line.quantity)),
            }
        )
    return emit(
        {
            "resourceType": "Claim",
            "id": fhir_id(record.id),
            "identifier": [{"system": SID_SETTLEMENT, "value": record.id}],
            "status": "cancelled" if record.status == "reversed" else "active",
            "type": _claim_type(settlement.visit_type),
            "use": "claim",
            "patient": {"reference": f"Patient/{fhir_id(record.person_id)}"},
            "created": record.created_at.isoformat(timespec="seconds"),
            "insurer": _bureau(region_id, region_name),
            "provider": _site(site_id),
            "priority": {"coding": [{"system": PRIORITY, "code": "normal"}]},
            "insurance": [
                {
                    "sequence": 1,
                    "focal": True,
                    "coverage": {"reference": f"Coverage/{fhir_id(record.person_id)}"},
                }
            ],
            "item": items or None,
            "total": money(settlement.medfee_sumamt),
        }
    )


def payment_notice_id(site_id: str, seq: int) -> str:
    """The id of the PaymentNotice of the site's outbox event `seq`."""
    return f"{fhir_id(site_id)}.{seq}"


def payment_notice(event: HisEvent, *, day: date) -> dict[str, Any]:
    """A bill paid or refunded, as the site's outbox recorded it (`day`: the hospital's day
    it happened on, whose PaymentReconciliation holds it)."""
    refunded = event.kind == "bill.refunded"
    return emit(
        {
            "resourceType": "PaymentNotice",
            "id": payment_notice_id(event.hospital_id, event.seq),
            "identifier": [{"system": "https://facepay.dev/fhir/sid/event", "value": event.id}],
            "status": "active",
            "request": {"reference": f"Invoice/{fhir_id(event.bill_id)}"},
            "response": {"reference": f"ClaimResponse/{fhir_id(event.settlement_id)}"}
            if event.settlement_id
            else None,
            "created": event.at.isoformat(timespec="seconds"),
            "payment": {
                "reference": f"PaymentReconciliation/{reconciliation_id(event.hospital_id, day)}"
            },
            "paymentDate": day.isoformat(),
            "recipient": _site(event.hospital_id),
            "amount": money(event.amount_fen or 0),
            "paymentStatus": {
                "coding": [
                    {"system": CS_PAYMENT_EVENT, "code": "refunded" if refunded else "paid"},
                    *([] if refunded else [{"system": PAYMENT_STATUS, "code": "paid"}]),
                ]
            },
        }
    )


def reconciliation_id(site_id: str, day: date) -> str:
    """The id of the site's PaymentReconciliation of `day`."""
    return f"{fhir_id(site_id)}.{day:%Y%m%d}"


def payment_reconciliation(
    *,
    site_id: str,
    day: date,
    start: datetime,
    end: datetime,
    settled: Sequence[SettlementRecord],
    reversed_: Sequence[SettlementRecord],
    complete: bool,
    created: datetime,
    region_id: str,
    region_name: str | None,
) -> dict[str, Any]:
    """The site's day: one detail per settlement made (payment, +) and per settlement
    reversed (adjustment, -) in [start, end); `paymentAmount` the net total, and the net of
    each national amount as an extension."""
    zone = start.tzinfo  # the hospital's: a detail's date is the hospital's day
    details = [_detail(r, "payment", r.created_at, +1, zone) for r in settled]
    details += [_detail(r, "adjustment", r.reversed_at or end, -1, zone) for r in reversed_]
    net = {
        code: sum(int(getattr(r.settlement, code)) for r in settled)
        - sum(int(getattr(r.settlement, code)) for r in reversed_)
        for code, _ in NHSA_AMOUNTS
        if code != "balc"
    }
    return emit(
        {
            "resourceType": "PaymentReconciliation",
            "id": reconciliation_id(site_id, day),
            "extension": [
                {
                    "url": EXT_NHSA_TOTAL,
                    "extension": [
                        {"url": "code", "valueCode": code},
                        {"url": "amount", "valueMoney": money(amount)},
                    ],
                }
                for code, amount in net.items()
            ],
            "status": "active",
            "period": {
                "start": start.isoformat(timespec="seconds"),
                "end": end.isoformat(timespec="seconds"),
            },
            "created": created.isoformat(timespec="seconds"),
            "paymentIssuer": _bureau(region_id, region_name),
            "requestor": _site(site_id),
            "outcome": "complete" if complete else "partial",
            "disposition": f"{len(settled)} settlements, {len(reversed_)} reversals",
            "paymentDate": day.isoformat(),
            "paymentAmount": money(net["medfee_sumamt"]),
            "detail": details or None,
        }
    )


def _detail(
    record: SettlementRecord, kind: str, at: datetime, sign: int, zone: tzinfo | None
) -> dict[str, Any]:
    return {
        "identifier": {"system": SID_SETTLEMENT, "value": record.id},
        "type": {"coding": [{"system": PAYMENT_TYPE, "code": kind}]},
        "request": {"reference": f"Claim/{fhir_id(record.id)}"},
        "response": {"reference": f"ClaimResponse/{fhir_id(record.id)}"},
        "date": at.astimezone(zone).date().isoformat(),
        "amount": money(sign * record.settlement.medfee_sumamt),
    }


def preauthorized_invoice(document: dict[str, Any]) -> str:
    """The bill a `use = preauthorization` Claim asks to pre-settle: the one Invoice of its
    `supportingInfo[].valueReference` (`Invoice/<id>`)."""
    parse_resource(document, "Claim")
    if document.get("use") != "preauthorization":
        raise InvalidInput(
            "only use = preauthorization is accepted: a claim is settled by paying the bill",
            code="fhir_claim_use",
        )
    found = {
        reference_id((info.get("valueReference") or {}).get("reference"), "Invoice")
        for info in document.get("supportingInfo") or ()
        if isinstance(info, dict)
    } - {None}
    if len(found) != 1:
        raise InvalidInput(
            "name the bill as supportingInfo[].valueReference Invoice/<id>, once",
            code="fhir_bad_claim",
        )
    bill = facepay_id(str(found.pop()), kind="bil")
    if bill is None:
        raise NotFound("no such Invoice")
    return bill
