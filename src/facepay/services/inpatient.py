"""Inpatient stays: admit, take deposits, charge, read, interim statement, bedside check-ins.

Each use case is one unit of work, audited in it. The patient's presence (admission, a top-up
at a terminal, the daily bedside check-in) is proved by consuming an identification of this
site through `facepay.services.presence.attend`. A deposit is a ledger hold from the payment
source (cash or bank clearing) to the patient's wallet, standing until the discharge
settlement (facepay.services.inpatient_discharge) posts what the patient owes and releases
the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from facepay.hospital.inpatient import (
    TIER_NUMBERS,
    BedsideCheckIn,
    ChargeLine,
    Deposit,
    DepositPosition,
    DepositSource,
    Diagnosis,
    Discharge,
    LowDepositLevel,
    Netting,
    Stay,
    deposit_position,
    net_deposit,
    stay_bill,
)
from facepay.hospital.tenants import Hospital
from facepay.identity.records import InsuredPerson
from facepay.insurance.model import BillLine, Coverage, Settlement
from facepay.insurance.policy import Policy
from facepay.insurance.settlement import settle
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.bills import registered_person
from facepay.services.context import Services
from facepay.services.ledger import open_accounts_in, person_accounts
from facepay.services.payments import standing
from facepay.services.ports import UnitOfWork
from facepay.services.presence import attend
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.supervision.alerts import Alert

MAX_LATE_ADMISSION_DAYS = 7
"""How many days late an admission may be recorded (a night admission entered next morning)."""
LOW_DEPOSIT = "low_deposit"
"""The alert kind of a stay whose deposit fell below the level."""
MAX_KEY = 150


@dataclass(frozen=True)
class StayView:
    """A stay with everything recorded on it and its running deposit position."""

    stay: Stay
    deposits: tuple[Deposit, ...]
    lines: tuple[ChargeLine, ...]
    check_ins: tuple[BedsideCheckIn, ...]
    discharges: tuple[Discharge, ...]
    position: DepositPosition

    @property
    def discharge(self) -> Discharge | None:
        """The standing discharge settlement (None while the stay is open)."""
        settled = [d for d in self.discharges if d.status == "settled"]
        return settled[-1] if settled else None


@dataclass(frozen=True)
class Deposited:
    """A deposit and the stay after it; `replayed` when the idempotency key was seen."""

    view: StayView
    deposit: Deposit
    replayed: bool


@dataclass(frozen=True)
class Charged:
    """The lines of one charge reference and the stay after them."""

    view: StayView
    lines: tuple[ChargeLine, ...]
    replayed: bool


@dataclass(frozen=True)
class Statement:
    """The stay's split: provisional while it is open (nothing stored), else the standing
    discharge settlement's; and how the deposit meets the cash share."""

    view: StayView
    settlement: Settlement | None
    netting: Netting | None
    final: bool


def local_day(ctx: Services, at: datetime | None = None) -> date:
    """The hospitals' calendar day at `at` (default: now)."""
    moment = at or ctx.clock.now()
    return (moment + timedelta(minutes=ctx.settings.hospital_utc_offset_minutes)).date()


def low_deposit_level(ctx: Services) -> LowDepositLevel:
    """The configured low-deposit level."""
    s = ctx.settings
    return LowDepositLevel(s.inpatient_low_deposit_fen, s.inpatient_low_deposit_percent)


def view_of(ctx: Services, uow: UnitOfWork, stay: Stay) -> StayView:
    """Everything recorded on `stay`, read in `uow`."""
    deposits = uow.inpatient.deposits_of(stay.id)
    lines = uow.inpatient.charges_of(stay.id)
    return StayView(
        stay=stay,
        deposits=tuple(deposits),
        lines=tuple(lines),
        check_ins=tuple(uow.inpatient.check_ins_of(stay.id)),
        discharges=tuple(uow.inpatient.discharges_of(stay.id)),
        position=deposit_position(deposits, lines, low_deposit_level(ctx)),
    )


def hospital_stay(uow: UnitOfWork, stay_id: str, hospital_id: str) -> Stay:
    """The stay, if it is of this hospital (NotFound otherwise, whether it exists or not)."""
    stay = uow.inpatient.stay(stay_id, hospital_id)
    if stay is None:
        raise NotFound("no such stay")
    return stay


def require_open(stay: Stay) -> None:
    """Conflict unless the stay is open (deposits, charges and check-ins need one)."""
    if not stay.is_open:
        raise Conflict("the stay is discharged", code="stay_discharged")


def _tier(site: Hospital, asked: int | None) -> int:
    """The site's own tier; the caller's only when the site has none on record."""
    if site.tier is not None:
        own = TIER_NUMBERS[site.tier]
        if asked is not None and asked != own:
            raise InvalidInput(f"this site is of tier {own}, not {asked}", code="bad_hospital_tier")
        return own
    if asked is None:
        raise InvalidInput(
            "this site has no tier on record: give hospital_tier (1, 2 or 3)",
            code="hospital_tier_required",
        )
    return asked


def _check_doctor(uow: UnitOfWork, hospital_id: str, staff_id: str) -> None:
    doctor = uow.tenants.staff_by_id(staff_id)
    if (
        doctor is None
        or doctor.hospital_id != hospital_id
        or doctor.role != "doctor"
        or not doctor.active
    ):
        raise InvalidInput(
            "the attending doctor must be an active doctor of this site",
            code="attending_not_a_doctor",
        )


def admit(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    staff_confirmed: bool,
    person_id: str,
    identification_id: str,
    ward: str,
    bed: str,
    diagnosis: Diagnosis,
    attending_doctor_id: str,
    hospital_tier: int | None = None,
    admitted_on: date | None = None,
) -> StayView:
    """Admit the identified patient to a bed, unless they are admitted anywhere in the region
    or the bed holds someone. `admitted_on` (default today) may lie up to
    MAX_LATE_ADMISSION_DAYS back."""
    now = ctx.clock.now()
    today = local_day(ctx, now)
    day = admitted_on or today
    if not today - timedelta(days=MAX_LATE_ADMISSION_DAYS) <= day <= today:
        raise InvalidInput(
            f"admitted_on: today or up to {MAX_LATE_ADMISSION_DAYS} days back",
            code="bad_admission_date",
        )
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        tier = _tier(site, hospital_tier)
        person = registered_person(uow, person_id)
        # The inpatient policy must cover the person on the day of admission.
        _inpatient_policy(ctx, person, day)
        _check_doctor(uow, hospital_id, attending_doctor_id)
        if uow.inpatient.open_stay_of_person(person.id) is not None:
            raise Conflict(
                "the patient is admitted already (at this or another site of the region)",
                code="already_admitted",
            )
        if uow.inpatient.open_stay_in_bed(hospital_id, ward, bed) is not None:
            raise Conflict(f"bed {ward}/{bed} holds another patient", code="bed_occupied")
        stay_id = new_id("sty")
        presence = attend(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=person.id,
            act="check_in",
            used_for=stay_id,
            now=now,
            staff_confirmed=staff_confirmed,
            card_needs_staff=True,
        )
        open_accounts_in(uow, person_accounts(person.id))
        stay = Stay(
            id=stay_id,
            hospital_id=hospital_id,
            person_id=person.id,
            ward=ward,
            bed=bed,
            diagnosis=diagnosis,
            attending_doctor_id=attending_doctor_id,
            hospital_tier=tier,
            admitted_on=day,
            admitted_at=now,
            admitted_by=actor,
            identification_id=presence.identification_id,
        )
        # The storage refuses a second open stay even when a concurrent admission got here.
        uow.inpatient.add_stay(stay)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.admit",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "person": person.id,
                "ward": ward,
                "bed": bed,
                "diagnosis_code": diagnosis.code,
                "attending_doctor": attending_doctor_id,
                "hospital_tier": tier,
                "admitted_on": day.isoformat(),
                **presence.audit_details(),
            },
        )
        view = view_of(ctx, uow, stay)
        uow.commit()
    return view


def _inpatient_policy(ctx: Services, person: InsuredPerson, day: date) -> Policy:
    policy = ctx.policies.pick(service_date=day, category=person.category)
    if policy.inpatient is None or person.category not in policy.inpatient.bands:
        raise InvalidInput(
            f"policy {policy.id} does not cover inpatient stays of category {person.category}",
            code="not_covered_inpatient",
        )
    return policy


def clearing_account(source: DepositSource) -> str:
    """The clearing account of a payment source."""
    return account_id(AccountKind.CASH_CLEARING, source)


def wallet_account(person_id: str) -> str:
    """The account a patient's deposits are held to."""
    return account_id(AccountKind.PATIENT_WALLET, person_id)


def deposit(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    staff_confirmed: bool,
    stay_id: str,
    amount: int,
    source: DepositSource,
    idempotency_key: str,
    identification_id: str | None = None,
) -> Deposited:
    """Hold `amount` fen paid in cash or by bank card for the stay, once per idempotency key.
    A terminal needs an identification of the patient (or their proxy) present; staff may
    take a deposit without one."""
    _check_key(idempotency_key)
    if identification_id is None and not staff_confirmed:
        raise InvalidInput(
            "a top-up at a terminal needs the patient's identification",
            code="identification_required",
        )
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        seen = uow.inpatient.deposit_by_key(idempotency_key)
        if seen is not None:
            if (seen.stay_id, seen.amount, seen.source) != (stay.id, amount, source):
                raise Conflict(
                    "this idempotency key made another deposit", code="idempotency_conflict"
                )
            return Deposited(view_of(ctx, uow, stay), seen, replayed=True)
        require_open(stay)
        deposit_id = new_id("dep")
        presence = None
        if identification_id is not None:
            presence = attend(
                uow,
                identification_id=identification_id,
                hospital_id=hospital_id,
                patient_id=stay.person_id,
                act="pay",
                used_for=deposit_id,
                now=now,
                staff_confirmed=staff_confirmed,
                # Money handed over is the proof a card at a kiosk gives for any payment.
                card_needs_staff=False,
            )
        hold = TransferSpec.hold(
            clearing_account(source),
            wallet_account(stay.person_id),
            amount,
            "inpatient.deposit",
            timeout_seconds=None,  # a stay has no fixed end: the discharge resolves the hold
        )
        request = PostingRequest(f"inpatient.deposit:{idempotency_key}", (hold,))
        posted = post(repo=uow.ledger, request=request, now=now)
        made = Deposit(
            id=deposit_id,
            stay_id=stay.id,
            hospital_id=hospital_id,
            amount=amount,
            source=source,
            idempotency_key=idempotency_key,
            hold_id=posted.transfers[0].id,
            created_at=now,
            actor=actor,
            identification_id=presence.identification_id if presence else None,
            present_person_id=presence.person_id if presence else None,
        )
        uow.inpatient.add_deposit(made)
        view = view_of(ctx, uow, stay)
        if stay.low_deposit_alerted and not view.position.low:
            stay = replace(stay, low_deposit_alerted=False)
            uow.inpatient.save_stay(stay)
            view = replace(view, stay=stay)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.deposit",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "person": stay.person_id,
                "deposit": made.id,
                "amount_fen": amount,
                "source": source,
                "hold": made.hold_id,
                "deposit_fen": view.position.deposit,
                "balance_fen": view.position.balance,
                **(presence.audit_details() if presence else {}),
            },
        )
        uow.commit()
    return Deposited(view, made, replayed=False)


def charge(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    stay_id: str,
    reference: str,
    service_date: date,
    lines: Sequence[BillLine],
) -> Charged:
    """Add a day's fee lines to the stay under `reference`, once per reference: the same
    lines again replay, other lines under a used reference are refused."""
    if not 1 <= len(lines) <= 200:
        raise InvalidInput("a charge has 1 to 200 lines")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        made = tuple(
            ChargeLine(
                id=new_id("chg"),
                stay_id=stay.id,
                hospital_id=hospital_id,
                reference=reference,
                line_no=number,
                service_date=service_date,
                code=line.code,
                name=line.name,
                item_class=line.item_class,
                unit_price=line.unit_price,
                quantity=line.quantity,
                created_at=now,
                actor=actor,
            )
            for number, line in enumerate(lines, start=1)
        )
        seen = uow.inpatient.charge_lines(stay.id, reference)
        if seen:
            if len(seen) != len(made) or not all(
                a.same_charge(b) for a, b in zip(seen, made, strict=True)
            ):
                raise Conflict(
                    "this charge reference was posted with other lines",
                    code="charge_reference_conflict",
                )
            return Charged(view_of(ctx, uow, stay), tuple(seen), replayed=True)
        require_open(stay)
        if not stay.admitted_on <= service_date <= local_day(ctx, now):
            raise InvalidInput(
                f"a charge is dated from the admission ({stay.admitted_on}) to today",
                code="bad_service_date",
            )
        # The whole bill must stay within what one bill may come to.
        stay_bill(stay, [*uow.inpatient.charges_of(stay.id), *made])
        uow.inpatient.add_charge_lines(made)
        view = view_of(ctx, uow, stay)
        if view.position.low and not stay.low_deposit_alerted:
            view = _raise_low_deposit(ctx, uow, view, actor=actor)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.charge",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "person": stay.person_id,
                "reference": reference,
                "service_date": service_date.isoformat(),
                "lines": len(made),
                "amount_fen": sum(line.amount for line in made),
                "charges_fen": view.position.charges,
                "balance_fen": view.position.balance,
            },
        )
        uow.commit()
    return Charged(view, made, replayed=False)


def _raise_low_deposit(ctx: Services, uow: UnitOfWork, view: StayView, *, actor: str) -> StayView:
    """One alert (and audit entry) each time the deposit falls below the level."""
    stay = replace(view.stay, low_deposit_alerted=True)
    uow.inpatient.save_stay(stay)
    details: dict[str, object] = {
        "stay": stay.id,
        "person": stay.person_id,
        "ward": stay.ward,
        "bed": stay.bed,
        "deposit_fen": view.position.deposit,
        "charges_fen": view.position.charges,
        "balance_fen": view.position.balance,
        "level_fen": view.position.level,
    }
    uow.alerts.add(
        Alert(new_id("alr"), stay.hospital_id, LOW_DEPOSIT, stay.id, details, ctx.clock.now())
    )
    audit(
        ctx,
        uow,
        actor=actor,
        action="inpatient.low_deposit",
        subject=stay.id,
        details={"hospital": stay.hospital_id, **details},
    )
    return replace(view, stay=stay)


def get_stay(*, ctx: Services, hospital_id: str, stay_id: str) -> StayView:
    """One stay of the caller's hospital, with its deposit position."""
    with ctx.uow() as uow:
        return view_of(ctx, uow, hospital_stay(uow, stay_id, hospital_id))


def provisional_settlement(
    ctx: Services, uow: UnitOfWork, stay: Stay, lines: Sequence[ChargeLine]
) -> tuple[Settlement, Policy, InsuredPerson]:
    """The split of the stay's bill today, on the person's current accumulators and personal
    account (locked in the order settle_in_transaction locks them); nothing is stored."""
    person = registered_person(uow, stay.person_id)
    bill = stay_bill(stay, lines)
    policy = ctx.policies.pick(service_date=bill.service_date, category=person.category)
    accumulators, available = standing(uow, person.id, bill.service_date.year)
    coverage = Coverage(
        category=person.category,
        personal_account_balance=available,
        medical_assistance=person.medical_assistance,
    )
    settlement = settle(bill=bill, coverage=coverage, accumulators=accumulators, policy=policy)
    return settlement, policy, person


def statement(*, ctx: Services, hospital_id: str, stay_id: str) -> Statement:
    """The interim statement of an open stay (the split if it were discharged now), or the
    final one of a discharged stay."""
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        view = view_of(ctx, uow, stay)
        standing = view.discharge
        if standing is not None:
            record = uow.settlements.get(standing.settlement_id)
            assert record is not None
            netted = Netting(
                standing.cash_share,
                (),
                (),
                standing.applied + standing.released,
                standing.applied,
                standing.released,
                standing.arrears,
            )
            return Statement(view, record.settlement, netted, final=True)
        if not view.lines:
            return Statement(view, None, None, final=False)
        settlement, _, _ = provisional_settlement(ctx, uow, stay, view.lines)
    netting = net_deposit(settlement.psn_cash_pay, view.deposits)
    return Statement(view, settlement, netting, final=False)


def bedside_check_in(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    staff_confirmed: bool,
    stay_id: str,
    identification_id: str,
) -> BedsideCheckIn:
    """Record that the patient was at the bed today, by an identification of the patient
    themself (never a proxy's) consumed here; one a stay a day."""
    now = ctx.clock.now()
    day = local_day(ctx, now)
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        require_open(stay)
        if any(c.day == day for c in uow.inpatient.check_ins_of(stay.id)):
            raise Conflict(
                "the patient was checked in at the bed today already", code="bedside_checked_in"
            )
        check_in_id = new_id("bsc")
        presence = attend(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=stay.person_id,
            act="check_in",
            used_for=check_in_id,
            now=now,
            staff_confirmed=staff_confirmed,
            card_needs_staff=True,
            in_person=True,  # it proves the patient is in the bed: no proxy stands in
        )
        made = BedsideCheckIn(
            id=check_in_id,
            stay_id=stay.id,
            hospital_id=hospital_id,
            day=day,
            at=now,
            actor=actor,
            identification_id=presence.identification_id,
            present_person_id=presence.person_id,
            method=presence.method,
            proxy_grant_id=presence.proxy_grant_id,
        )
        uow.inpatient.add_check_in(made)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.bedside",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "check_in": made.id,
                "day": day.isoformat(),
                "ward": stay.ward,
                "bed": stay.bed,
                **presence.audit_details(),
            },
        )
        uow.commit()
    return made


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidInput(f"an idempotency key is 1 to {MAX_KEY} printable characters")
