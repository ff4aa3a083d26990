"""Inpatient stays: admission, deposits, daily charges, the interim statement, bedside
check-ins, the discharge settlement and its reversal.

Amounts of charges come from the hospital system; the settlement and how the deposit meets it
are computed by the server only (no body carries a fund, account or cash amount). A stay is
found only inside the caller's hospital; idempotency keys are scoped to it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal, PrincipalKind
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.problems import errors
from facepay.api.routes.bills import BillLineCreate, Code, SplitRead, split_read
from facepay.api.schemas import Id, PlainText, RequestModel, ResponseModel
from facepay.hospital import prompts
from facepay.hospital.inpatient import (
    MAX_DEPOSIT_FEN,
    BedsideCheckIn,
    Deposit,
    Diagnosis,
    Discharge,
    Netting,
)
from facepay.insurance.model import BillLine
from facepay.services import inpatient, inpatient_discharge
from facepay.services.inpatient import StayView

router = APIRouter(prefix="/v1/stays", tags=["inpatient"])
Place = Annotated[PlainText, Field(min_length=1, max_length=40)]


def _staff(who: Principal) -> bool:
    return who.kind is PrincipalKind.STAFF


class StayCreate(RequestModel):
    """Admit the identified patient (an identification of this site: face, or card with a
    staff member confirming) to a bed."""

    person_id: Id
    identification_id: Id
    """Of the patient, or of a proxy with a live grant to check in for them."""
    ward: Place
    bed: Place
    diagnosis_code: Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Za-z]{1,8})?$")]
    """ICD-10, e.g. J18.900."""
    diagnosis_text: Annotated[PlainText, Field(min_length=1, max_length=200)]
    attending_doctor_id: Id
    """A doctor (staff id) of this site."""
    hospital_tier: Annotated[int, Field(strict=True, ge=1, le=3)] | None = None
    """Only for a site with no tier on record; otherwise the site's own tier applies."""
    admitted_on: date | None = None
    """The day of admission when it is recorded late (up to 7 days back); default today."""


class DepositCreate(RequestModel):
    """Money paid for the stay (cash at the desk, or a bank card at the desk or a terminal);
    a terminal also sends the identification of the patient (or proxy) paying."""

    amount: Annotated[int, Field(strict=True, ge=1, le=MAX_DEPOSIT_FEN)]
    source: Literal["cash", "bank"]
    identification_id: Id | None = None


class ChargeCreate(RequestModel):
    """A day's fee lines of the stay, sent once per `reference` (a repeat replays)."""

    reference: Code
    service_date: date
    """From the day of admission to today (the hospital's local day)."""
    lines: Annotated[list[BillLineCreate], Field(min_length=1, max_length=200)]

    def bill_lines(self) -> list[BillLine]:
        """The lines as the insurance bill carries them (ceilings and ratios not taken)."""
        return [
            BillLine(line.code, line.name, line.item_class, line.unit_price, line.quantity)
            for line in self.lines
        ]


class BedsideCreate(RequestModel):
    """The patient at the bed: an identification of them (or their proxy) at this site."""

    identification_id: Id


class DepositRead(ResponseModel):
    """A deposit and the hold that keeps it until the discharge."""

    id: str
    amount: int
    source: str
    hold_id: str
    applied: int
    """What the standing discharge settlement took of it (0 while the stay is open)."""
    returned: int
    """What a discharge since reversed handed back of it (no longer held for the stay)."""
    created_at: datetime
    present_person_id: str | None


class BedsideCheckInRead(ResponseModel):
    """One bedside check-in."""

    id: str
    day: date
    at: datetime
    actor: str
    method: str
    present_person_id: str
    proxy_grant_id: str | None


class BedsideCheckInMadeRead(BedsideCheckInRead):
    """A check-in just made, with the sentence for the bedside screen and voice."""

    prompt: str


class DischargeRead(ResponseModel):
    """One discharge settlement of the stay and how the deposit met the cash share."""

    id: str
    settlement_id: str
    status: Literal["settled", "reversed"]
    cash_share: int
    applied: int
    released: int
    arrears: int
    created_at: datetime
    reversed_at: datetime | None


class StayRead(ResponseModel):
    """A stay, its running deposit against its charges, check-ins and discharges (fen)."""

    id: str
    person_id: str
    ward: str
    bed: str
    diagnosis_code: str
    diagnosis_text: str
    attending_doctor_id: str
    hospital_tier: int
    status: Literal["admitted", "discharged"]
    admitted_on: date
    admitted_at: datetime
    discharged_at: datetime | None
    deposit_fen: int
    charges_fen: int
    balance_fen: int
    """Deposit less charges so far (negative once the charges run past the deposit)."""
    low_deposit_level_fen: int
    low_deposit: bool
    charge_lines: int
    deposits: list[DepositRead]
    bedside_check_ins: list[BedsideCheckInRead]
    discharges: list[DischargeRead]


class NettingRead(ResponseModel):
    """How the deposit meets the patient's cash share (fen)."""

    cash_share: int
    deposit: int
    applied: int
    released: int
    arrears: int


class StatementLineRead(ResponseModel):
    """A charge line of the stay."""

    reference: str
    service_date: date
    code: str
    name: str
    item_class: str
    unit_price: int
    quantity: str
    amount: int


class StatementRead(ResponseModel):
    """The interim statement (provisional, nothing stored) or, after discharge, the final."""

    stay: StayRead
    final: bool
    split: SplitRead | None
    netting: NettingRead | None
    lines: list[StatementLineRead]


class DepositResultRead(ResponseModel):
    """The deposit and the stay after it; `replayed` on a repeated key."""

    stay: StayRead
    deposit: DepositRead
    replayed: bool


class ChargeResultRead(ResponseModel):
    """The charge's lines and the stay after them; `replayed` on a repeated reference."""

    stay: StayRead
    lines: int
    amount: int
    replayed: bool


class DischargeResultRead(ResponseModel):
    """The discharge settlement: the split, the netting, the ledger transfers of the split."""

    stay: StayRead
    discharge: DischargeRead
    split: SplitRead
    transfers: int
    replayed: bool


class ReversalResultRead(ResponseModel):
    """The cancelled discharge and the stay, open again."""

    stay: StayRead
    discharge: DischargeRead
    reversed_settlement_id: str
    replayed: bool


def _deposit(d: Deposit) -> DepositRead:
    return DepositRead(
        id=d.id,
        amount=d.amount,
        source=d.source,
        hold_id=d.hold_id,
        applied=d.applied,
        returned=d.returned,
        created_at=d.created_at,
        present_person_id=d.present_person_id,
    )


def _check_in(c: BedsideCheckIn) -> BedsideCheckInRead:
    return BedsideCheckInRead(
        id=c.id,
        day=c.day,
        at=c.at,
        actor=c.actor,
        method=c.method,
        present_person_id=c.present_person_id,
        proxy_grant_id=c.proxy_grant_id,
    )


def _discharge(d: Discharge) -> DischargeRead:
    return DischargeRead(
        id=d.id,
        settlement_id=d.settlement_id,
        status=d.status,
        cash_share=d.cash_share,
        applied=d.applied,
        released=d.released,
        arrears=d.arrears,
        created_at=d.created_at,
        reversed_at=d.reversed_at,
    )


def stay_read(view: StayView) -> StayRead:
    """The API form of a stay."""
    s, p = view.stay, view.position
    return StayRead(
        id=s.id,
        person_id=s.person_id,
        ward=s.ward,
        bed=s.bed,
        diagnosis_code=s.diagnosis.code,
        diagnosis_text=s.diagnosis.text,
        attending_doctor_id=s.attending_doctor_id,
        hospital_tier=s.hospital_tier,
        status=s.status,
        admitted_on=s.admitted_on,
        admitted_at=s.admitted_at,
        discharged_at=s.discharged_at,
        deposit_fen=p.deposit,
        charges_fen=p.charges,
        balance_fen=p.balance,
        low_deposit_level_fen=p.level,
        low_deposit=s.is_open and p.low,
        charge_lines=len(view.lines),
        deposits=[_deposit(d) for d in view.deposits],
        bedside_check_ins=[_check_in(c) for c in view.check_ins],
        discharges=[_discharge(d) for d in view.discharges],
    )


def _netting(n: Netting) -> NettingRead:
    return NettingRead(
        cash_share=n.cash_share,
        deposit=n.deposit,
        applied=n.applied,
        released=n.released,
        arrears=n.arrears,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=StayRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def admit(
    body: StayCreate, state: StateDep, who: Annotated[Principal, may(Permission.INPATIENT_ADMIT)]
) -> StayRead:
    """Admit a patient to a bed; refused if they are admitted anywhere in the region."""
    view = inpatient.admit(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        staff_confirmed=_staff(who),
        person_id=body.person_id,
        identification_id=body.identification_id,
        ward=body.ward,
        bed=body.bed,
        diagnosis=Diagnosis(body.diagnosis_code, body.diagnosis_text),
        attending_doctor_id=body.attending_doctor_id,
        hospital_tier=body.hospital_tier,
        admitted_on=body.admitted_on,
    )
    return stay_read(view)


@router.get("/{stay_id}", response_model=StayRead, responses=errors(401, 403, 404, 422, 429))
def get_stay(
    stay_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.INPATIENT_READ)]
) -> StayRead:
    """One stay of the caller's hospital: deposit against charges, check-ins, discharges."""
    return stay_read(
        inpatient.get_stay(ctx=state.services, hospital_id=who.hospital, stay_id=stay_id)
    )


@router.post(
    "/{stay_id}/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=DepositResultRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def deposit(
    stay_id: Id,
    body: DepositCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_DEPOSIT)],
) -> DepositResultRead:
    """Hold a deposit (or top-up) for the stay on its payment source, once per key."""
    result = inpatient.deposit(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        staff_confirmed=_staff(who),
        stay_id=stay_id,
        amount=body.amount,
        source=body.source,
        idempotency_key=f"{who.hospital}:{key}",
        identification_id=body.identification_id,
    )
    return DepositResultRead(
        stay=stay_read(result.view), deposit=_deposit(result.deposit), replayed=result.replayed
    )


@router.post(
    "/{stay_id}/charges",
    status_code=status.HTTP_201_CREATED,
    response_model=ChargeResultRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def charge(
    stay_id: Id,
    body: ChargeCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_CHARGE)],
) -> ChargeResultRead:
    """Add a day's fee lines to the stay (the HIS, a doctor or a nurse), once per reference."""
    result = inpatient.charge(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        stay_id=stay_id,
        reference=body.reference,
        service_date=body.service_date,
        lines=body.bill_lines(),
    )
    return ChargeResultRead(
        stay=stay_read(result.view),
        lines=len(result.lines),
        amount=sum(line.amount for line in result.lines),
        replayed=result.replayed,
    )


@router.get(
    "/{stay_id}/statement", response_model=StatementRead, responses=errors(401, 403, 404, 422, 429)
)
def statement(
    stay_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.INPATIENT_READ)]
) -> StatementRead:
    """The split of the stay's charges if it were discharged now (nothing stored), and how the
    deposit would meet the cash share; the final split once discharged."""
    result = inpatient.statement(ctx=state.services, hospital_id=who.hospital, stay_id=stay_id)
    lines = [
        StatementLineRead(
            reference=line.reference,
            service_date=line.service_date,
            code=line.code,
            name=line.name,
            item_class=line.item_class,
            unit_price=line.unit_price,
            quantity=str(line.quantity),
            amount=line.amount,
        )
        for line in result.view.lines
    ]
    return StatementRead(
        stay=stay_read(result.view),
        final=result.final,
        split=split_read(result.settlement) if result.settlement else None,
        netting=_netting(result.netting) if result.netting else None,
        lines=lines,
    )


@router.post(
    "/{stay_id}/bedside-check-ins",
    status_code=status.HTTP_201_CREATED,
    response_model=BedsideCheckInMadeRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def bedside_check_in(
    stay_id: Id,
    body: BedsideCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_BEDSIDE)],
) -> BedsideCheckInMadeRead:
    """The daily check-in at the bed (a ward terminal by face, or a nurse); one a day."""
    made = inpatient.bedside_check_in(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        staff_confirmed=_staff(who),
        stay_id=stay_id,
        identification_id=body.identification_id,
    )
    return BedsideCheckInMadeRead(**_check_in(made).model_dump(), prompt=prompts.bedside())


@router.post(
    "/{stay_id}/discharge",
    status_code=status.HTTP_201_CREATED,
    response_model=DischargeResultRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def discharge(
    stay_id: Id,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_DISCHARGE)],
) -> DischargeResultRead:
    """Settle the stay by the inpatient policy and net the deposit (surplus released,
    shortfall recorded as arrears) in one transaction, once per key."""
    result = inpatient_discharge.discharge(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        stay_id=stay_id,
        idempotency_key=f"{who.hospital}:{key}",
    )
    receipt = result.receipt
    state.metrics.settlements.labels("replayed" if result.replayed else "settled").inc()
    return DischargeResultRead(
        stay=stay_read(result.view),
        discharge=_discharge(result.discharge),
        split=split_read(receipt.record.settlement),
        transfers=len(receipt.transfers),
        replayed=result.replayed,
    )


@router.post(
    "/{stay_id}/discharge/reversal",
    status_code=status.HTTP_201_CREATED,
    response_model=ReversalResultRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def reverse_discharge(
    stay_id: Id,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_DISCHARGE_REVERSE)],
) -> ReversalResultRead:
    """Cancel the discharge settlement (2305): reversed, deposit held again, arrears
    cancelled, the stay open again to be settled anew."""
    result = inpatient_discharge.reverse_discharge(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        stay_id=stay_id,
        reversal_key=f"{who.hospital}:{key}",
    )
    state.metrics.settlements.labels("refunded").inc()
    return ReversalResultRead(
        stay=stay_read(result.view),
        discharge=_discharge(result.discharge),
        reversed_settlement_id=result.reversal.record.id,
        replayed=result.replayed,
    )
