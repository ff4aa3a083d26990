"""Inbound HL7 v2 messages onto the use cases (the tables are in docs/hl7.md).

Each handler reads and checks its fields, then calls the use cases with a `Services` whose units
of work are the inbound message's own transaction (facepay.services.his_interface.joined), so
that the message is stored and applied at once. A missing or wrong field raises `Hl7Reject`
naming it; nothing of the message is then applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from facepay.adapters.hl7v2 import fields as f
from facepay.adapters.hl7v2.messages import (
    REQUIRED_FIELD_MISSING,
    TABLE_VALUE_NOT_FOUND,
    UNKNOWN_KEY,
    Hl7Reject,
    Parsed,
    Seg,
    missing,
    wrong,
)
from facepay.hospital.bills import LineOrder
from facepay.hospital.inpatient import TIER_NUMBERS, Diagnosis
from facepay.hospital.orders import CONCLUSIONS, Conclusion
from facepay.insurance.model import Bill, BillLine
from facepay.services import bills, exams, his_interface, inpatient, inpatient_discharge
from facepay.services.context import Services
from facepay.shared.money import round_half_up

MR = "MR"
"""PID-3 identifier type (HL7 table 0203) of the hospital system's own patient id."""
ID_CARD_TYPES = frozenset({"NNCHN", "CZ", "NI", "RID"})
"""PID-3 identifier types taken as the resident ID card number (else PID-19 is read)."""
ITEM_CLASSES = {"A": "A", "B": "B", "C": "C", "甲": "A", "乙": "B", "丙": "C"}
LAB_SECTIONS = frozenset({"LAB", "CH", "HM", "MB", "SR", "BLB", "CP", "IMM", "SP", "HEM"})
"""OBR-24 diagnostic service sections (HL7 table 0074) that make a lab test, not an exam."""
SEVERITY: dict[str, Conclusion] = {
    "": "normal",
    "N": "normal",
    "A": "abnormal",
    "H": "abnormal",
    "L": "abnormal",
    ">": "abnormal",
    "<": "abnormal",
    "AA": "critical",
    "HH": "critical",
    "LL": "critical",
}
"""OBX-8 abnormal flags (HL7 table 0078) and the conclusion they make."""


@dataclass(frozen=True)
class Inbound:
    """What a handler is given: the joined services, the site, who acts, the message."""

    ctx: Services
    hospital_id: str
    actor: str
    message: Parsed
    message_id: str

    @property
    def offset(self) -> int:
        """The hospitals' UTC offset in minutes (HL7 times without one are local)."""
        return self.ctx.settings.hospital_utc_offset_minutes


Handler = Callable[[Inbound], str]


# --- the patient -------------------------------------------------------------------------


def _ids(pid: Seg) -> tuple[str, str, str]:
    """(the HIS patient id, the ID card number, where that number was read)."""
    mr = number = ""
    where = pid.where(3)
    for rep in range(1, pid.repetitions(3) + 1):
        kind = pid.get(3, 5, rep).upper()
        if kind == MR and not mr:
            mr = pid.get(3, 1, rep)
        elif kind in ID_CARD_TYPES and not number:
            number = pid.get(3, 1, rep)
    if not number and pid.get(19):
        number, where = pid.get(19), pid.where(19)
    return mr, number, where


def _name(pid: Seg) -> str:
    """PID-5 as one name: family name and given name run together, as Chinese names are."""
    return (pid.get(5, 1) + pid.get(5, 2)).strip()


def _person(m: Inbound, *, link: bool) -> str:
    """The person a message is about: by the ID number in PID (linking the HIS patient id to
    them when `link`), else by the HIS patient id linked earlier (ADT^A04/A08)."""
    pid = m.message.one("PID")
    mr, number, where = _ids(pid)
    if not mr:
        raise missing(pid.where(3), "PID-3 with identifier type MR (the HIS patient id)")
    if number:
        with f.blame(
            where, {"his_name_mismatch": pid.where(5), "bad_his_patient_id": pid.where(3)}
        ):
            linked = his_interface.link_patient(
                ctx=m.ctx,
                hospital_id=m.hospital_id,
                actor=m.actor,
                his_patient_id=mr,
                id_number=number,
                name=_name(pid) or None,
            )
        return linked.person_id
    if link:
        raise missing(pid.where(3), "the resident ID card number (PID-3 type NNCHN, or PID-19)")
    person = his_interface.linked_person(ctx=m.ctx, hospital_id=m.hospital_id, his_patient_id=mr)
    if person is None:
        raise Hl7Reject(
            "unknown patient: register them first (ADT^A04 with the ID number)",
            location=pid.where(3),
            code=UNKNOWN_KEY,
        )
    return person


def register(m: Inbound) -> str:
    """ADT^A04 / ADT^A08: link the HIS patient id to the insured person."""
    _person(m, link=True)
    return "patient linked"


# --- stays ---------------------------------------------------------------------------------


def _staff_id(m: Inbound, username: str, where: str, what: str) -> str:
    """The staff id of an active doctor of the site with this user name."""
    with m.ctx.uow() as uow:
        staff = uow.tenants.staff_by_username(username) if username else None
    if staff is None or (staff.hospital_id, staff.role, staff.active) != (
        m.hospital_id,
        "doctor",
        True,
    ):
        raise wrong(where, f"{what}: not an active doctor of this site", UNKNOWN_KEY)
    return staff.id


def admit(m: Inbound) -> str:
    """ADT^A01: admit the patient (identified at the site: ZFP-1) to PV1-3's ward and bed."""
    person = _person(m, link=False)
    pv1 = m.message.one("PV1")
    ward, bed = pv1.get(3, 1), pv1.get(3, 3)
    if not ward or not bed:
        raise missing(pv1.where(3), "PV1-3 ward (component 1) and bed (component 3)")
    doctor = pv1.get(7, 1)
    if not doctor:
        raise missing(pv1.where(7), "PV1-7 attending doctor (the site's user name)")
    doctor_id = _staff_id(m, doctor, pv1.where(7), "PV1-7")
    dg1 = m.message.one("DG1")
    code, text = dg1.get(3, 1), dg1.get(3, 2) or dg1.get(4)
    if not code:
        raise missing(dg1.where(3), "DG1-3 admitting diagnosis (ICD-10)")
    with f.blame(dg1.where(3)):
        diagnosis = Diagnosis(code, text or code)
    zfp = m.message.one("ZFP")
    identification = zfp.get(1)
    if not identification:
        raise missing(zfp.where(1), "ZFP-1 the facepay identification of the patient")
    admitted = pv1.get(44)
    on = f.day(admitted, pv1.where(44)) if admitted else None
    errors = {
        "bed_occupied": pv1.where(3),
        "attending_not_a_doctor": pv1.where(7),
        "bad_admission_date": pv1.where(44),
        "already_admitted": m.message.one("PID").where(3),
        "not_insured": m.message.one("PID").where(3),
    }
    with f.blame(zfp.where(1), errors):
        view = inpatient.admit(
            ctx=m.ctx,
            hospital_id=m.hospital_id,
            actor=m.actor,
            staff_confirmed=True,
            person_id=person,
            identification_id=identification,
            ward=ward,
            bed=bed,
            diagnosis=diagnosis,
            attending_doctor_id=doctor_id,
            admitted_on=on,
        )
    return f"admitted {view.stay.id}"


def _open_stay(m: Inbound, person: str) -> str | None:
    with m.ctx.uow() as uow:
        stay = uow.inpatient.open_stay_of_person(person)
    return stay.id if stay is not None and stay.hospital_id == m.hospital_id else None


def discharge(m: Inbound) -> str:
    """ADT^A03: the discharge settlement of the patient's open stay at the site."""
    person = _person(m, link=False)
    stay = _open_stay(m, person)
    if stay is None:
        raise Hl7Reject(
            "the patient has no open stay at this site",
            location=m.message.one("PID").where(3),
            code=UNKNOWN_KEY,
        )
    with f.blame("PV1^1^19"):
        done = inpatient_discharge.discharge(
            ctx=m.ctx,
            hospital_id=m.hospital_id,
            actor=m.actor,
            stay_id=stay,
            idempotency_key=f"hl7:{m.message_id}",
        )
    return f"discharged {stay}, settlement {done.discharge.settlement_id}"


# --- charges -------------------------------------------------------------------------------


def _reference(m: Inbound, batch_field: tuple[str, int]) -> str:
    """PV1-19 visit number, with the batch (FT1-2, ORC-4) after a colon when one is given."""
    pv1 = m.message.one("PV1")
    visit = pv1.get(19)
    if not visit:
        raise missing(pv1.where(19), "PV1-19 visit number")
    name, number = batch_field
    batch = next((s.get(number) for s in m.message.segments(name) if s.get(number)), "")
    return f"{visit}:{batch}" if batch else visit


def _line(ft1: Seg) -> tuple[BillLine, str]:
    """One FT1 as a bill line, and its service date's text."""
    if ft1.get(6).upper() not in ("", "CG"):
        raise wrong(ft1.where(6), "FT1-6: only CG (charge) transactions", TABLE_VALUE_NOT_FOUND)
    code, name = ft1.get(7, 1), ft1.get(7, 2) or ft1.get(8)
    if not code:
        raise missing(ft1.where(7), "FT1-7 transaction code (the item's code)")
    klass = ITEM_CLASSES.get(ft1.get(14, 1).upper())
    if klass is None:
        raise Hl7Reject(
            "FT1-14 the item's insurance class: A, B or C (甲, 乙, 丙)",
            location=ft1.where(14),
            code=REQUIRED_FIELD_MISSING if not ft1.get(14) else TABLE_VALUE_NOT_FOUND,
        )
    if not ft1.get(12, 1):
        raise missing(ft1.where(12), "FT1-12 unit price in yuan")
    price = f.fen(ft1.get(12, 1), ft1.where(12))
    count = f.quantity(ft1.get(10), ft1.where(10))
    with f.blame(ft1.where(7)):
        line = BillLine(
            code=code,
            name=name or code,
            item_class=klass,  # type: ignore[arg-type]
            unit_price=price,
            quantity=count,
        )
    extended = ft1.get(11, 1)
    if extended and f.fen(extended, ft1.where(11)) != round_half_up(price * count):
        raise wrong(ft1.where(11), "FT1-11 is not FT1-12 times FT1-10")
    when = ft1.get(4, 1)
    if not when:
        raise missing(ft1.where(4), "FT1-4 transaction date")
    return line, when


def charges(m: Inbound) -> str:
    """DFT^P03: an outpatient bill (idempotent on the visit number), or the charges of the
    patient's open stay at the site when PV1-2 is I (inpatient)."""
    person = _person(m, link=False)
    items = m.message.segments("FT1")
    if not items:
        raise Hl7Reject("no FT1 segment", location="FT1", code=100)
    read = [_line(ft1) for ft1 in items]
    dates = {f.day(when, items[i].where(4)) for i, (_, when) in enumerate(read)}
    if len(dates) != 1:
        raise wrong(items[0].where(4), "every FT1 of one message is of the same day")
    service_date = dates.pop()
    lines = tuple(line for line, _ in read)
    reference = _reference(m, ("FT1", 2))
    pv1 = m.message.one("PV1")
    if pv1.get(2).upper() == "I":
        stay = _open_stay(m, person)
        if stay is None:
            raise wrong(pv1.where(2), "an inpatient charge, but no open stay here", UNKNOWN_KEY)
        with f.blame(items[0].where(7), {"bad_service_date": items[0].where(4)}):
            made = inpatient.charge(
                ctx=m.ctx,
                hospital_id=m.hospital_id,
                actor=m.actor,
                stay_id=stay,
                reference=reference,
                service_date=service_date,
                lines=lines,
            )
        return f"charged {stay}: {len(made.lines)} lines"
    with m.ctx.uow() as uow:
        site = uow.tenants.hospital(m.hospital_id)
        seen = uow.bills.by_external_ref(m.hospital_id, reference)
    if seen is not None:
        if seen.person_id != person or seen.bill.lines != lines:
            raise wrong(pv1.where(19), "this visit's bill was posted with other lines", 205)
        return f"bill {seen.id}"
    tier = TIER_NUMBERS.get(site.tier) if site is not None and site.tier else None
    if tier is None:
        raise wrong("MSH^1^6", "the site has no tier on record: set it before charges", 207)
    with m.ctx.uow() as uow:
        person_row = uow.people.get(person)
    assert person_row is not None
    errors = {"bad_service_date": items[0].where(4), "duplicate_line_code": items[0].where(7)}
    with f.blame(items[0].where(7), errors):
        posted = bills.post_bill(
            ctx=m.ctx,
            hospital_id=m.hospital_id,
            actor=m.actor,
            id_number=person_row.id_number,
            external_ref=reference,
            bill=Bill("outpatient", tier, service_date, lines),
        )
    return f"bill {posted.id}"


# --- orders and results --------------------------------------------------------------------


def orders(m: Inbound) -> str:
    """ORM^O01: order data (exam or lab, department, ordering doctor) for lines of the open
    bill the visit's DFT^P03 posted; they reach the worklists when the bill is paid."""
    person = _person(m, link=False)
    reference = _reference(m, ("ORC", 4))
    made: list[LineOrder] = []
    requests = m.message.segments("OBR")
    if not requests:
        raise Hl7Reject("no OBR segment", location="OBR", code=100)
    for i, obr in enumerate(requests):
        orc = m.message.segments("ORC")[i] if i < len(m.message.segments("ORC")) else None
        if orc is not None and orc.get(1).upper() != "NW":
            raise wrong(orc.where(1), "ORC-1: only NW (new order)", TABLE_VALUE_NOT_FOUND)
        code = obr.get(4, 1)
        if not code:
            raise missing(obr.where(4), "OBR-4 the item's code (a line of the visit's bill)")
        section = obr.get(24).upper()
        if not section:
            raise missing(obr.where(24), "OBR-24 the performing department")
        username = obr.get(16, 1) or (orc.get(12, 1) if orc is not None else "")
        if not username:
            raise missing(obr.where(16), "OBR-16 the ordering doctor (the site's user name)")
        doctor = _staff_id(m, username, obr.where(16), "OBR-16")
        with f.blame(obr.where(24)):
            made.append(
                LineOrder(
                    code=code,
                    kind="lab" if section in LAB_SECTIONS else "exam",
                    department=section,
                    ordered_by=doctor,
                )
            )
    errors = {"no_such_bill": "PV1^1^19", "bad_line_order": requests[0].where(4)}
    with f.blame("PV1^1^19", errors):
        posted = his_interface.order_lines(
            ctx=m.ctx,
            hospital_id=m.hospital_id,
            actor=m.actor,
            external_ref=reference,
            person_id=person,
            orders=tuple(made),
        )
    return f"orders on bill {posted.id}"


def results(m: Inbound) -> str:
    """ORU^R01: the result of a worklist request (OBR-3 the facepay request id): the summary
    from the text OBX, the conclusion from the worst OBX-8 flag, the image reference from an
    RP OBX. Images themselves never come here."""
    obr = m.message.one("OBR")
    request = obr.get(3, 1)
    if not request:
        raise missing(obr.where(3), "OBR-3 filler order number (the facepay request id)")
    when = obr.get(7)
    if not when:
        raise missing(obr.where(7), "OBR-7 observation date/time")
    performed = f.dtm(when, obr.where(7), utc_offset_minutes=m.offset)
    texts: list[str] = []
    image: str | None = None
    image_at = "OBX"
    worst = 0
    for obx in m.message.segments("OBX"):
        flag = obx.get(8).upper()
        if flag not in SEVERITY:
            raise wrong(obx.where(8), "OBX-8: N, A, H, L, AA, HH or LL", TABLE_VALUE_NOT_FOUND)
        worst = max(worst, CONCLUSIONS.index(SEVERITY[flag]))
        kind = obx.get(2).upper()
        if kind == "RP":
            image, image_at = obx.get(5, 1), obx.where(5)
        elif kind in ("TX", "ST", "FT", "NM", "CWE", "CE"):
            label = obx.get(3, 2) or obx.get(3, 1)
            value = obx.text(5).replace("^", " ").strip()
            texts.append(f"{label}: {value}" if label else value)
    if not texts:
        raise missing("OBX", "an OBX with the result's text (TX, ST, FT, NM)")
    errors = {"bad_report": "OBX^1^5", "bad_image_ref": image_at}
    with f.blame(obr.where(3), errors):
        reported = exams.record_result(
            ctx=m.ctx,
            hospital_id=m.hospital_id,
            actor=m.actor,
            request_id=request,
            summary="\n".join(texts)[:4_000],
            conclusion=CONCLUSIONS[worst],
            image_ref=image,
            performed_at=min(performed, m.ctx.clock.now()),
        )
    return f"result of {reported.id}"


HANDLERS: dict[str, Handler] = {
    "ADT^A01": admit,
    "ADT^A03": discharge,
    "ADT^A04": register,
    "ADT^A08": register,
    "DFT^P03": charges,
    "ORM^O01": orders,
    "ORU^R01": results,
}
