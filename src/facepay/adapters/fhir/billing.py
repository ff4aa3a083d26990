"""Invoice and ChargeItem: the charges a hospital system pushes, and the bill they become.

In: an `Invoice` whose `lineItem`s reference `contained` ChargeItems (`#id`), or a `transaction`
Bundle of ChargeItems (`urn:uuid:` fullUrls) and one Invoice referencing them. Each ChargeItem is
one bill line: `code.coding[0]` (code and display), the item class A/B/C in the extension
`.../item-class`, `priceOverride` (CNY, at most 2 decimals, converted to fen exactly), `quantity`
(decimal), `occurrenceDateTime` (the visit day, the same on every line). Optional: price ceiling
and self-pay ratio extensions, the line's order kind, department and pharmacy window extensions,
and `enterer` `Practitioner/<staff id>` as the ordering doctor.

Out: the stored bill as Invoice (status issued | balanced | cancelled) and one ChargeItem per
line, with the same codes, so that what was pushed reads back the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from facepay.adapters.fhir.common import (
    CS_VISIT_TYPE,
    EXT_DEPARTMENT,
    EXT_HOSPITAL_TIER,
    EXT_ITEM_CLASS,
    EXT_ORDER_KIND,
    EXT_POINT_OF_SALE,
    EXT_PRICE_CEILING,
    EXT_SELFPAY_RATIO,
    EXT_WINDOW,
    SID_BILL_REF,
    SID_RESIDENT_ID,
    SID_SITE,
    emit,
    extension_value,
    facepay_id,
    fen_of,
    fhir_id,
    money,
    parse_resource,
    reference_id,
)
from facepay.hospital.bills import ORDER_KINDS, LineOrder, OrderKind, PointOfSale, PostedBill
from facepay.insurance.model import Bill, BillLine
from facepay.shared.errors import InvalidInput
from facepay.shared.money import round_half_up

MAX_LINES = 200
_CODE = re.compile(r"^[A-Za-z0-9_.:\-]{1,40}$")
_REF = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
INVOICE_STATUS = {"open": "issued", "paid": "balanced", "refunded": "cancelled"}
BILL_STATUSES = {
    "issued": frozenset({"open"}),
    "balanced": frozenset({"paid"}),
    "cancelled": frozenset({"refunded", "cancelled"}),
}
"""What each Invoice status stands for among the bill statuses (for `status=` searches)."""
TIERS = {"primary": 1, "secondary": 2, "tertiary": 3}


@dataclass(frozen=True)
class PatientRef:
    """Whom an Invoice is for: a Patient id of the site, or an ID number."""

    person_id: str | None = None
    id_number: str | None = None


@dataclass(frozen=True)
class PushedInvoice:
    """What a pushed Invoice asks for: the bill under the HIS's identifier."""

    external_ref: str
    patient: PatientRef
    bill: Bill
    point_of_sale: PointOfSale
    line_orders: tuple[LineOrder, ...]


def _bad(message: str, code: str = "fhir_bad_invoice") -> InvalidInput:
    return InvalidInput(message, code=code)


def read_push(document: Mapping[str, Any], *, site_tier: str | None) -> PushedInvoice:
    """The bill an Invoice (with contained ChargeItems) or a transaction Bundle asks for."""
    if document.get("resourceType") == "Bundle":
        invoice, items = _from_bundle(document)
    else:
        parse_resource(document, "Invoice", "Bundle")
        invoice = document
        contained = {
            f"#{c.get('id')}": c
            for c in invoice.get("contained") or ()
            if isinstance(c, Mapping) and c.get("resourceType") == "ChargeItem"
        }
        items = _referenced(invoice, contained)
    return _pushed(invoice, items, site_tier)


def _from_bundle(bundle: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    parse_resource(bundle, "Bundle")
    if bundle.get("type") != "transaction":
        raise _bad("a Bundle of charges is of type transaction")
    invoices: list[Mapping[str, Any]] = []
    charges: dict[str, Mapping[str, Any]] = {}
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        request = entry.get("request") or {}
        kind = resource.get("resourceType")
        if request.get("method") != "POST" or request.get("url") != kind:
            raise _bad("each entry is a POST of its own type (request.url ChargeItem or Invoice)")
        if kind == "Invoice":
            invoices.append(resource)
        elif kind == "ChargeItem":
            url = entry.get("fullUrl")
            if not isinstance(url, str) or not url.startswith("urn:uuid:") or url in charges:
                raise _bad("each ChargeItem entry has its own fullUrl urn:uuid:...")
            charges[url] = resource
        else:
            raise _bad("a Bundle of charges holds ChargeItems and one Invoice")
    if len(invoices) != 1:
        raise _bad("a Bundle of charges holds exactly one Invoice")
    return invoices[0], _referenced(invoices[0], charges)


def _referenced(
    invoice: Mapping[str, Any], charges: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The ChargeItems of the invoice's line items, in line order; each used once, none left."""
    lines = invoice.get("lineItem") or []
    if not 1 <= len(lines) <= MAX_LINES:
        raise _bad(f"an Invoice has 1 to {MAX_LINES} lineItems")
    refs = [str((line.get("chargeItemReference") or {}).get("reference")) for line in lines]
    if any(ref not in charges for ref in refs):
        raise _bad("each lineItem references one of the ChargeItems sent with it")
    if len(set(refs)) != len(refs) or set(refs) != set(charges):
        raise _bad("each ChargeItem is referenced by exactly one lineItem")
    return [charges[ref] for ref in refs]


def _pushed(
    invoice: Mapping[str, Any], items: list[Mapping[str, Any]], site_tier: str | None
) -> PushedInvoice:
    parse_resource(invoice, "Invoice")
    if invoice.get("status") != "issued":
        raise _bad("a pushed Invoice has status issued")
    refs = [i.get("value") for i in invoice.get("identifier") or () if i.get("value")]
    if len(refs) != 1 or not _REF.fullmatch(str(refs[0])):
        raise _bad("the Invoice has one identifier whose value is 1 to 100 of A-Z a-z 0-9 _.:-")
    patient = _patient(invoice.get("subject"))
    lines, orders, days = [], [], set()
    for n, item in enumerate(items, 1):
        line, order, day = _line(item, n, patient)
        lines.append(line)
        days.add(day)
        if order is not None:
            orders.append(order)
    if len(days) != 1:
        raise _bad("every ChargeItem has the same occurrenceDateTime day (the visit)")
    bill = Bill(
        visit_type=_visit_type(invoice),
        hospital_tier=_tier(invoice, site_tier),
        service_date=days.pop(),
        lines=tuple(lines),
    )
    _check_totals(invoice, bill)
    point = extension_value(invoice.get("extension"), EXT_POINT_OF_SALE, "valueCode") or "hospital"
    if point not in ("hospital", "pharmacy"):
        raise _bad("point-of-sale: hospital or pharmacy")
    return PushedInvoice(
        external_ref=str(refs[0]),
        patient=patient,
        bill=bill,
        point_of_sale="pharmacy" if point == "pharmacy" else "hospital",
        line_orders=tuple(orders),
    )


def _patient(subject: object) -> PatientRef:
    if not isinstance(subject, Mapping):
        raise _bad("the Invoice names its subject: Patient/<id> or a resident-id identifier")
    if subject.get("reference") is not None:
        found = reference_id(subject.get("reference"), "Patient")
        person = facepay_id(found, kind="psn") if found else None
        if person is None:
            raise _bad("subject: Patient/<id> of a patient of this site", "fhir_unknown_patient")
        return PatientRef(person_id=person)
    identifier = subject.get("identifier") or {}
    if identifier.get("system") != SID_RESIDENT_ID or not identifier.get("value"):
        raise _bad(f"subject.identifier: system {SID_RESIDENT_ID} and the ID number")
    return PatientRef(id_number=str(identifier["value"]))


def _line(
    item: Mapping[str, Any], n: int, patient: PatientRef
) -> tuple[BillLine, LineOrder | None, date]:
    parse_resource(item, "ChargeItem")
    where = f"ChargeItem {n}"
    if item.get("status") != "billable":
        raise _bad(f"{where}: status billable")
    coding = ((item.get("code") or {}).get("coding") or [{}])[0]
    code, name = coding.get("code"), coding.get("display") or (item.get("code") or {}).get("text")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise _bad(f"{where}: code.coding[0].code of 1 to 40 of A-Z a-z 0-9 _.:-")
    if not isinstance(name, str) or not 0 < len(name) <= 120 or not name.isprintable():
        raise _bad(f"{where}: code.coding[0].display (or code.text), 1 to 120 characters")
    subject = reference_id((item.get("subject") or {}).get("reference"), "Patient")
    if patient.person_id is not None and subject and facepay_id(subject) != patient.person_id:
        raise _bad(f"{where}: the subject is the Invoice's")
    ext = item.get("extension")
    item_class = extension_value(ext, EXT_ITEM_CLASS, "valueCode")
    if item_class not in ("A", "B", "C"):
        raise _bad(f"{where}: the item-class extension (valueCode A, B or C)")
    price = item.get("priceOverride") or {}
    unit = fen_of(price.get("value"), price.get("currency"), f"{where}: priceOverride")
    quantity = (item.get("quantity") or {}).get("value")
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal):
        raise _bad(f"{where}: quantity.value")
    ceiling = extension_value(ext, EXT_PRICE_CEILING, "valueMoney")
    ratio = extension_value(ext, EXT_SELFPAY_RATIO, "valueDecimal")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | Decimal)):
        raise _bad(f"{where}: selfpay-ratio valueDecimal")
    line = BillLine(
        code=code,
        name=name,
        item_class=item_class,
        unit_price=unit,
        quantity=Decimal(quantity),
        price_ceiling=None
        if not isinstance(ceiling, Mapping)
        else fen_of(ceiling.get("value"), ceiling.get("currency"), f"{where}: price-ceiling"),
        selfpay_ratio=None if ratio is None else Decimal(ratio),
    )
    exponent = line.quantity.as_tuple().exponent
    if not 0 <= (line.selfpay_ratio or 0) <= 1 or not isinstance(exponent, int) or exponent < -4:
        raise _bad(f"{where}: quantity has at most 4 decimals, the self-pay ratio is 0 to 1")
    when = item.get("occurrenceDateTime")
    if not isinstance(when, str) or len(when) < 10:
        raise _bad(f"{where}: occurrenceDateTime, the day of the visit")
    try:
        day = date.fromisoformat(when[:10])
    except ValueError:
        raise _bad(f"{where}: occurrenceDateTime, the day of the visit") from None
    return line, _order(item, code, where), day


def _order(item: Mapping[str, Any], code: str, where: str) -> LineOrder | None:
    ext = item.get("extension")
    kind = extension_value(ext, EXT_ORDER_KIND, "valueCode")
    department = extension_value(ext, EXT_DEPARTMENT, "valueString")
    window = extension_value(ext, EXT_WINDOW, "valueString")
    enterer = (item.get("enterer") or {}).get("reference")
    doctor = reference_id(enterer, "Practitioner") if enterer else None
    if enterer and (doctor is None or facepay_id(doctor, kind="stf") is None):
        raise _bad(f"{where}: enterer is Practitioner/<staff id> of the ordering doctor")
    if kind is None and department is None and window is None and doctor is None:
        return None
    if kind is not None and kind not in ORDER_KINDS:
        raise _bad(f"{where}: order-kind one of {', '.join(ORDER_KINDS)}", "bad_line_order")
    chosen: OrderKind = next((k for k in ORDER_KINDS if k == kind), "other")
    return LineOrder(
        code=code,
        kind=chosen,
        department=str(department) if department is not None else None,
        window=str(window) if window is not None else None,
        ordered_by=facepay_id(doctor, kind="stf") if doctor else None,
    )


def _visit_type(invoice: Mapping[str, Any]) -> Any:
    for coding in (invoice.get("type") or {}).get("coding") or ():
        if coding.get("system") == CS_VISIT_TYPE and coding.get("code") in (
            "outpatient",
            "inpatient",
        ):
            return coding["code"]
    raise _bad(f"Invoice.type: a coding of {CS_VISIT_TYPE} (outpatient or inpatient)")


def _tier(invoice: Mapping[str, Any], site_tier: str | None) -> int:
    tier = extension_value(invoice.get("extension"), EXT_HOSPITAL_TIER, "valueInteger")
    if tier is None and site_tier is not None:
        return TIERS[site_tier]
    if isinstance(tier, bool) or tier not in (1, 2, 3):
        raise _bad("the hospital-tier extension (valueInteger 1, 2 or 3): the site has no tier")
    return int(tier)


def _check_totals(invoice: Mapping[str, Any], bill: Bill) -> None:
    total = sum(round_half_up(line.unit_price * line.quantity) for line in bill.lines)
    for name in ("totalNet", "totalGross"):
        given = invoice.get(name)
        if given is not None and fen_of(given.get("value"), given.get("currency"), name) != total:
            raise _bad(f"Invoice.{name} is not the sum of the lines ({total} fen)")


def charge_item_id(bill_id: str, code: str) -> str:
    """A line's ChargeItem id: the bill's FHIR id and 8 hex of the line code's SHA-256 (stable
    while the line exists; line codes are unique in a bill)."""
    return f"{fhir_id(bill_id)}.{hashlib.sha256(code.encode()).hexdigest()[:8]}"


def charge_item_resource(posted: PostedBill, line: BillLine) -> dict[str, Any]:
    """One line of a stored bill as a ChargeItem."""
    order = posted.order_of(line.code)
    extension: list[dict[str, Any]] = [{"url": EXT_ITEM_CLASS, "valueCode": line.item_class}]
    if line.price_ceiling is not None:
        extension.append({"url": EXT_PRICE_CEILING, "valueMoney": money(line.price_ceiling)})
    if line.selfpay_ratio is not None:
        extension.append({"url": EXT_SELFPAY_RATIO, "valueDecimal": line.selfpay_ratio})
    if order.kind != "other" or order.department or order.window:
        extension.append({"url": EXT_ORDER_KIND, "valueCode": order.kind})
    if order.department:
        extension.append({"url": EXT_DEPARTMENT, "valueString": order.department})
    if order.window:
        extension.append({"url": EXT_WINDOW, "valueString": order.window})
    resource: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": charge_item_id(posted.id, line.code),
        "extension": extension,
        "status": "billable" if posted.status == "open" else "billed",
        "code": {"coding": [{"code": line.code, "display": line.name}], "text": line.name},
        "subject": {"reference": f"Patient/{fhir_id(posted.person_id)}"},
        "occurrenceDateTime": posted.bill.service_date.isoformat(),
        "quantity": {"value": line.quantity},
        "priceOverride": money(line.unit_price),
        "enteredDate": _instant(posted.created_at),
    }
    if posted.status in ("refunded", "cancelled"):
        resource["status"] = "not-billable"
    if order.ordered_by:
        resource["enterer"] = {"reference": f"Practitioner/{fhir_id(order.ordered_by)}"}
    return emit(resource)


def invoice_resource(posted: PostedBill, *, site_id: str) -> dict[str, Any]:
    """A stored bill as an Invoice; its ChargeItems by reference (`ChargeItem/<id>`)."""
    status = INVOICE_STATUS.get(posted.status, "cancelled")
    lines = [
        {
            "sequence": n,
            "chargeItemReference": {
                "reference": f"ChargeItem/{charge_item_id(posted.id, line.code)}"
            },
            "priceComponent": [
                {"type": "base", "amount": money(round_half_up(line.unit_price * line.quantity))}
            ],
        }
        for n, line in enumerate(posted.bill.lines, 1)
    ]
    resource: dict[str, Any] = {
        "resourceType": "Invoice",
        "id": fhir_id(posted.id),
        "extension": [
            {"url": EXT_HOSPITAL_TIER, "valueInteger": posted.bill.hospital_tier},
            {"url": EXT_POINT_OF_SALE, "valueCode": posted.point_of_sale},
        ],
        "identifier": [{"system": SID_BILL_REF, "value": posted.external_ref}],
        "status": status,
        "type": {"coding": [{"system": CS_VISIT_TYPE, "code": posted.bill.visit_type}]},
        "subject": {"reference": f"Patient/{fhir_id(posted.person_id)}"},
        "date": _instant(posted.created_at),
        "issuer": {"identifier": {"system": SID_SITE, "value": site_id}},
        "lineItem": lines,
        "totalNet": money(posted.total),
        "totalGross": money(posted.total),
    }
    if status == "cancelled":
        resource["cancelledReason"] = "refunded" if posted.status == "refunded" else "cancelled"
    return emit(resource)


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
