"""Inpatient stays on the in-memory unit of work: admission, deposits, charges, statement,
bedside check-ins, discharge settlement with the deposit netted, reversal and settling again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.hospital.inpatient import Deposit, Diagnosis, LowDepositLevel, net_deposit
from facepay.hospital.tenants import StaffUser
from facepay.insurance.model import BillLine
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services import inpatient, inpatient_discharge
from facepay.services.audit import verify_audit
from facepay.services.identification import identify_by_credentials
from facepay.services.ledger import open_accounts
from facepay.services.memory import InMemoryUnitOfWork
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound

PNEUMONIA = Diagnosis("J18.900", "pneumonia, unspecified")


@pytest.fixture
def ward(world: Any, kit: ModuleType) -> Any:
    """The world with bank clearing, a doctor and a nurse at h1 and Carol registered (no
    personal account money: every fen of her share is cash)."""
    open_accounts(
        uow=InMemoryUnitOfWork(world.store), accounts=[(AccountKind.CASH_CLEARING, "bank")]
    )
    with world.ctx.uow() as uow:
        for staff_id, role, hospital in (
            ("doc-1", "doctor", "h1"),
            ("nurse-1", "nurse", "h1"),
            ("doc-2", "doctor", "h2"),
        ):
            uow.tenants.add_staff(
                StaffUser(staff_id, hospital, staff_id, "x", role, world.clock.now())
            )
        uow.commit()
    kit.register(world, 30, "Carol", account=0)
    return world


def card(world: Any, kit: ModuleType, seed: int, hospital: str = "h1") -> str:
    """An identification by ID number + insurance card at `hospital`."""
    return identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="kiosk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def admit(world: Any, kit: ModuleType, seed: int, name: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "ctx": world.ctx,
        "hospital_id": "h1",
        "actor": "staff:nurse-1",
        "staff_confirmed": True,
        "person_id": world.people[name],
        "identification_id": card(world, kit, seed, overrides.get("hospital_id", "h1")),
        "ward": "W3",
        "bed": "12",
        "diagnosis": PNEUMONIA,
        "attending_doctor_id": "doc-1",
        "hospital_tier": 3,
    }
    return inpatient.admit(**{**values, **overrides}).stay


def pay_in(world: Any, stay: Any, amount: int, key: str, source: str = "cash") -> Any:
    return inpatient.deposit(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        staff_confirmed=True,
        stay_id=stay.id,
        amount=amount,
        source=source,  # type: ignore[arg-type]
        idempotency_key=key,
    )


def day_lines(fen: int) -> list[BillLine]:
    """A day on the ward: bed (A), nursing (A), a class-B drug and a class-C extra."""
    return [
        BillLine("BED", "ward bed", "A", 8_000, Decimal(1)),
        BillLine("NURSE", "level-1 nursing", "A", 4_000, Decimal(1)),
        BillLine("DRUG-B", "antibiotic", "B", fen, Decimal("2.5")),
        BillLine("EXTRA-C", "single room supplement", "C", 5_000, Decimal(1)),
    ]


def charge(world: Any, stay: Any, day: date, fen: int = 20_000, ref: str | None = None) -> Any:
    return inpatient.charge(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:doc-1",
        stay_id=stay.id,
        reference=ref or f"HIS-{day.isoformat()}",
        service_date=day,
        lines=day_lines(fen),
    )


def discharge(world: Any, stay: Any, key: str) -> Any:
    return inpatient_discharge.discharge(
        ctx=world.ctx, hospital_id="h1", actor="staff:cashier", stay_id=stay.id, idempotency_key=key
    )


def balances(world: Any, person_id: str) -> dict[str, tuple[int, int]]:
    """(posted balance, pending credits or debits) of the accounts a stay moves."""
    ids = {
        "wallet": account_id(AccountKind.PATIENT_WALLET, person_id),
        "arrears": account_id(AccountKind.ARREARS, person_id),
        "personal": account_id(AccountKind.PERSONAL_ACCOUNT, person_id),
        "cash": account_id(AccountKind.CASH_CLEARING, "cash"),
        "bank": account_id(AccountKind.CASH_CLEARING, "bank"),
        "revenue": account_id(AccountKind.HOSPITAL_REVENUE, "h1"),
    }
    with world.ctx.uow() as uow:
        found = uow.ledger.lock_accounts(list(ids.values()))
    return {
        name: (found[i].balance, found[i].credits_pending + found[i].debits_pending)
        for name, i in ids.items()
        if i in found
    }


def test_a_stay_from_admission_to_discharge_adds_up(ward: Any, kit: ModuleType) -> None:
    carol = ward.people["Carol"]
    stay = admit(ward, kit, 30, "Carol")
    today = inpatient.local_day(ward.ctx)
    assert (stay.status, stay.admitted_on, stay.hospital_tier) == ("admitted", today, 3)
    pay_in(ward, stay, 300_000, "dep-1")
    pay_in(ward, stay, 200_000, "dep-2", source="bank")
    assert balances(ward, carol)["wallet"] == (0, 500_000)  # held, not yet posted
    for n in range(3):
        ward.clock.set(ward.clock.now() + timedelta(days=1))
        charge(ward, stay, today + timedelta(days=n + 1))
    shown = inpatient.statement(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id)
    assert not shown.final
    assert shown.settlement is not None
    assert shown.settlement.medfee_sumamt == 3 * (8_000 + 4_000 + 50_000 + 5_000)
    before = balances(ward, carol)

    done = discharge(ward, stay, "dis-1")
    s = done.receipt.record.settlement
    assert s == shown.settlement  # the interim statement was the discharge's split
    assert s.act_pay_dedc == 130_000  # first admission of the year at a tier-3 hospital
    d = done.discharge
    assert (d.cash_share, d.applied, d.arrears) == (s.psn_cash_pay, s.psn_cash_pay, 0)
    assert d.released == 500_000 - s.psn_cash_pay
    # deposit applied + arrears + fund + personal account == the charges, to the fen.
    assert d.applied + d.arrears + s.fund_pay_sumamt + s.acct_pay == s.medfee_sumamt
    after = balances(ward, carol)
    assert after["wallet"] == (0, 0)  # every hold resolved, the wallet back where it began
    assert after["revenue"][0] - before["revenue"][0] == s.acct_pay + s.psn_cash_pay
    taken = after["cash"][0] + after["bank"][0] - before["cash"][0] - before["bank"][0]
    assert taken == d.applied  # the clearing accounts gave the hospital what the stay cost
    assert after["cash"][1] == after["bank"][1] == 0  # the surplus released to its source
    assert done.view.stay.status == "discharged"
    assert [dep.applied for dep in done.view.deposits] == [min(300_000, d.applied), 0]

    again = discharge(ward, stay, "dis-1")
    assert again.replayed
    assert again.receipt.record.id == done.receipt.record.id
    with pytest.raises(Conflict) as err:
        discharge(ward, stay, "dis-other")
    assert err.value.code == "stay_discharged"
    final = inpatient.statement(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id)
    assert final.final
    assert final.settlement == s
    actions = [e.action for e in ward.store.audit.entries if e.subject == stay.id]
    assert actions.count("inpatient.deposit") == 2
    assert actions[0] == "inpatient.admit"
    assert actions[-1] == "inpatient.discharge"
    assert verify_audit(ctx=ward.ctx).ok


def test_a_short_deposit_leaves_arrears(ward: Any, kit: ModuleType) -> None:
    carol = ward.people["Carol"]
    stay = admit(ward, kit, 30, "Carol")
    pay_in(ward, stay, 50_000, "dep-1")
    today = inpatient.local_day(ward.ctx)
    charge(ward, stay, today, fen=200_000)
    d = discharge(ward, stay, "dis-1").discharge
    assert d.applied == 50_000
    assert d.released == 0
    assert d.arrears == d.cash_share - 50_000 > 0
    assert balances(ward, carol)["arrears"] == (d.arrears, 0)
    assert balances(ward, carol)["wallet"] == (0, 0)


def test_no_deposit_and_a_share_covered_by_the_personal_account(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 10, "Alice")  # 100,000 fen in her personal account
    today = inpatient.local_day(ward.ctx)
    inpatient.charge(
        ctx=ward.ctx,
        hospital_id="h1",
        actor="his",
        stay_id=stay.id,
        reference="r1",
        service_date=today,
        lines=[BillLine("BED", "bed", "A", 8_000, Decimal(1))],
    )
    done = discharge(ward, stay, "dis-1")
    s = done.receipt.record.settlement
    assert s.psn_cash_pay == 0
    assert s.acct_pay == 8_000
    assert (done.discharge.applied, done.discharge.arrears) == (0, 0)


def test_reverse_and_settle_again(ward: Any, kit: ModuleType) -> None:
    carol = ward.people["Carol"]
    stay = admit(ward, kit, 30, "Carol")
    pay_in(ward, stay, 100_000, "dep-1")
    pay_in(ward, stay, 20_000, "dep-2", source="bank")
    today = inpatient.local_day(ward.ctx)
    charge(ward, stay, today, fen=100_000)
    held = balances(ward, carol)
    first = discharge(ward, stay, "dis-1").discharge
    assert first.arrears > 0
    accumulators = ward.store.accumulators.rows[(carol, today.year)]
    assert accumulators.inpatient_admissions == 1

    back = inpatient_discharge.reverse_discharge(
        ctx=ward.ctx, hospital_id="h1", actor="staff:cashier", stay_id=stay.id, reversal_key="rev-1"
    )
    assert back.view.stay.status == "admitted"
    assert back.discharge.status == "reversed"
    assert back.reversal.record.status == "reversed"
    assert balances(ward, carol) == held  # deposit held again in full, arrears cancelled
    assert [d.applied for d in back.view.deposits] == [0, 0]
    assert ward.store.accumulators.rows[(carol, today.year)].inpatient_admissions == 0
    replay = inpatient_discharge.reverse_discharge(
        ctx=ward.ctx, hospital_id="h1", actor="staff:cashier", stay_id=stay.id, reversal_key="rev-1"
    )
    assert replay.replayed
    with pytest.raises(Conflict) as err:
        inpatient_discharge.reverse_discharge(
            ctx=ward.ctx,
            hospital_id="h1",
            actor="staff:cashier",
            stay_id=stay.id,
            reversal_key="rev-2",
        )
    assert err.value.code == "stay_not_discharged"

    # A corrected charge, then the second settlement: the deductible is still the first one's.
    charge(ward, stay, today, fen=1_000, ref="correction")
    ward.clock.set(ward.clock.now() + timedelta(minutes=5))
    second = discharge(ward, stay, "dis-2")
    s = second.receipt.record.settlement
    assert s.act_pay_dedc == 130_000
    assert second.discharge.applied + second.discharge.arrears == s.psn_cash_pay
    assert balances(ward, carol)["arrears"] == (second.discharge.arrears, 0)
    assert [d.status for d in second.view.discharges] == ["reversed", "settled"]
    # The first discharge's key replays the first (cancelled) discharge, never a new one.
    old = discharge(ward, stay, "dis-1")
    assert old.replayed
    assert old.discharge.status == "reversed"


def test_a_later_admission_has_the_lower_deductible(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 30, "Carol")
    today = inpatient.local_day(ward.ctx)
    charge(ward, stay, today, fen=200_000)
    assert discharge(ward, stay, "dis-1").receipt.record.settlement.act_pay_dedc == 130_000
    again = admit(ward, kit, 30, "Carol", bed="13")
    charge(ward, again, today, fen=200_000)
    assert discharge(ward, again, "dis-2").receipt.record.settlement.act_pay_dedc == 65_000


def test_admission_refusals(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 30, "Carol")
    with pytest.raises(Conflict) as err:  # anywhere in the region
        admit(ward, kit, 30, "Carol", hospital_id="h2", attending_doctor_id="doc-2", bed="1")
    assert err.value.code == "already_admitted"
    with pytest.raises(Conflict) as err:
        admit(ward, kit, 10, "Alice")  # Carol's bed
    assert err.value.code == "bed_occupied"
    with pytest.raises(InvalidInput) as bad:
        admit(ward, kit, 10, "Alice", bed="14", attending_doctor_id="nurse-1")
    assert bad.value.code == "attending_not_a_doctor"
    with pytest.raises(InvalidInput) as bad:
        admit(ward, kit, 10, "Alice", bed="14", attending_doctor_id="doc-2")  # another site's
    assert bad.value.code == "attending_not_a_doctor"
    with pytest.raises(Forbidden) as no:  # Bob's identification for Alice
        admit(ward, kit, 10, "Alice", bed="14", identification_id=card(ward, kit, 20))
    assert no.value.code == "not_the_patient"
    with pytest.raises(Forbidden) as no:  # a card at a terminal, no staff confirming
        admit(ward, kit, 10, "Alice", bed="14", staff_confirmed=False)
    assert no.value.code == "staff_confirmation_required"
    with pytest.raises(InvalidInput) as bad:
        admit(ward, kit, 10, "Alice", bed="14", hospital_tier=None)
    assert bad.value.code == "hospital_tier_required"
    # Nothing of the refused admissions was kept: Alice is admitted once it is right.
    alice = admit(ward, kit, 10, "Alice", bed="14")
    assert alice.bed == "14"
    with pytest.raises(NotFound):  # another site's stay
        inpatient.get_stay(ctx=ward.ctx, hospital_id="h2", stay_id=stay.id)


def test_deposits_are_idempotent_and_need_presence_at_a_terminal(
    ward: Any, kit: ModuleType
) -> None:
    stay = admit(ward, kit, 30, "Carol")
    first = pay_in(ward, stay, 30_000, "dep-1")
    again = pay_in(ward, stay, 30_000, "dep-1")
    assert again.replayed
    assert again.deposit.id == first.deposit.id
    assert again.view.position.deposit == 30_000
    with pytest.raises(Conflict) as err:
        pay_in(ward, stay, 40_000, "dep-1")
    assert err.value.code == "idempotency_conflict"
    with pytest.raises(InvalidInput) as bad:
        inpatient.deposit(
            ctx=ward.ctx,
            hospital_id="h1",
            actor="terminal:ward-1",
            staff_confirmed=False,
            stay_id=stay.id,
            amount=10_000,
            source="bank",
            idempotency_key="dep-2",
        )
    assert bad.value.code == "identification_required"
    by_card = inpatient.deposit(
        ctx=ward.ctx,
        hospital_id="h1",
        actor="terminal:ward-1",
        staff_confirmed=False,
        stay_id=stay.id,
        amount=10_000,
        source="bank",
        idempotency_key="dep-3",
        identification_id=card(ward, kit, 30),
    )
    assert by_card.deposit.present_person_id == ward.people["Carol"]
    with pytest.raises(Forbidden) as no:
        inpatient.deposit(
            ctx=ward.ctx,
            hospital_id="h1",
            actor="terminal:ward-1",
            staff_confirmed=False,
            stay_id=stay.id,
            amount=10_000,
            source="bank",
            idempotency_key="dep-4",
            identification_id=card(ward, kit, 20),  # Bob tops up Carol's stay as Carol
        )
    assert no.value.code == "not_the_patient"


def test_charges_are_idempotent_by_reference(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 30, "Carol")
    today = inpatient.local_day(ward.ctx)
    first = charge(ward, stay, today, ref="r1")
    again = charge(ward, stay, today, ref="r1")
    assert again.replayed
    assert [line.id for line in again.lines] == [line.id for line in first.lines]
    assert len(again.view.lines) == 4
    with pytest.raises(Conflict) as err:
        charge(ward, stay, today, fen=1, ref="r1")
    assert err.value.code == "charge_reference_conflict"
    with pytest.raises(InvalidInput) as bad:
        charge(ward, stay, today - timedelta(days=1), ref="r2")  # before the admission
    assert bad.value.code == "bad_service_date"
    with pytest.raises(InvalidInput) as bad:
        charge(ward, stay, today + timedelta(days=1), ref="r3")  # tomorrow
    assert bad.value.code == "bad_service_date"


def test_the_low_deposit_alert_is_raised_once_per_fall(ward: Any, kit: ModuleType) -> None:
    ward.ctx = replace(ward.ctx, settings=ward.ctx.settings.model_copy(
        update={"inpatient_low_deposit_fen": 20_000}
    ))  # fmt: skip
    stay = admit(ward, kit, 30, "Carol")
    pay_in(ward, stay, 200_000, "dep-1")
    today = inpatient.local_day(ward.ctx)
    first = charge(ward, stay, today, ref="r1")  # 67,000 charged: 133,000 left
    assert not first.view.position.low
    low = charge(ward, stay, today, fen=50_000, ref="r2")  # +142,000: -9,000 left
    assert low.view.position.low
    assert low.view.stay.low_deposit_alerted
    charge(ward, stay, today, fen=1_000, ref="r3")
    alerts = ward.store.alerts.of_hospital("h1", kind=inpatient.LOW_DEPOSIT)
    assert len(alerts) == 1
    assert alerts[0].details["level_fen"] == 20_000
    topped = pay_in(ward, stay, 300_000, "dep-2")
    assert not topped.view.position.low
    assert not topped.view.stay.low_deposit_alerted


def test_the_low_deposit_level_can_follow_the_charges() -> None:
    level = LowDepositLevel(fen=10_000, percent=Decimal(20))
    assert level.of(0) == 10_000
    assert level.of(100_000) == 20_000


def test_bedside_check_ins(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 30, "Carol")

    def check_in(seed: int, *, staff: bool = True) -> Any:
        return inpatient.bedside_check_in(
            ctx=ward.ctx,
            hospital_id="h1",
            actor="staff:nurse-1" if staff else "terminal:ward-1",
            staff_confirmed=staff,
            stay_id=stay.id,
            identification_id=card(ward, kit, seed),
        )

    with pytest.raises(Forbidden) as no:
        check_in(20)  # a stranger at the bed
    assert no.value.code == "not_the_patient"
    with pytest.raises(Forbidden) as no:
        check_in(30, staff=False)  # a card at the ward terminal, nobody confirming
    assert no.value.code == "staff_confirmation_required"
    made = check_in(30)
    assert made.present_person_id == ward.people["Carol"]
    with pytest.raises(Conflict) as err:
        check_in(30)
    assert err.value.code == "bedside_checked_in"
    ward.clock.set(ward.clock.now() + timedelta(days=1))
    check_in(30)
    view = inpatient.get_stay(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id)
    assert [c.day for c in view.check_ins] == [made.day, made.day + timedelta(days=1)]


def test_discharge_needs_charges_and_refuses_a_used_key(ward: Any, kit: ModuleType) -> None:
    stay = admit(ward, kit, 30, "Carol")
    with pytest.raises(InvalidInput) as bad:
        discharge(ward, stay, "dis-1")
    assert bad.value.code == "stay_has_no_charges"
    charge(ward, stay, inpatient.local_day(ward.ctx))
    other = admit(ward, kit, 10, "Alice", bed="20")
    charge(ward, other, inpatient.local_day(ward.ctx))
    discharge(ward, stay, "dis-1")
    with pytest.raises(Conflict) as err:
        discharge(ward, other, "dis-1")
    assert err.value.code == "idempotency_conflict"


def test_netting_takes_the_oldest_deposit_first() -> None:
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    deposits = [
        Deposit(f"d{i}", "s", "h", amount, "cash", f"k{i}", f"t{i}", at + timedelta(hours=i), "a")
        for i, amount in enumerate((100, 200, 300))
    ]
    n = net_deposit(250, deposits)
    assert n.posts == (("d0", 100), ("d1", 150))
    assert n.voids == ("d2",)
    assert (n.deposit, n.applied, n.released, n.arrears) == (600, 250, 350, 0)
    short = net_deposit(700, deposits)
    assert (short.applied, short.released, short.arrears) == (600, 0, 100)
    assert net_deposit(0, deposits).voids == ("d0", "d1", "d2")


def test_a_late_recorded_admission(ward: Any, kit: ModuleType) -> None:
    today = inpatient.local_day(ward.ctx)
    with pytest.raises(InvalidInput) as bad:
        admit(ward, kit, 30, "Carol", admitted_on=today - timedelta(days=8))
    assert bad.value.code == "bad_admission_date"
    with pytest.raises(InvalidInput) as bad:
        admit(ward, kit, 30, "Carol", admitted_on=today + timedelta(days=1))
    assert bad.value.code == "bad_admission_date"
    stay = admit(ward, kit, 30, "Carol", admitted_on=today - timedelta(days=3))
    charge(ward, stay, today - timedelta(days=3))
    assert inpatient.get_stay(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id).lines


def test_a_reversal_does_not_hold_again_the_surplus_handed_back(ward: Any, kit: ModuleType) -> None:
    """The first discharge released the surplus to its source (the cash handed back): after
    its reversal only what it took is held again, so settling again cannot release it twice."""
    carol = ward.people["Carol"]
    stay = admit(ward, kit, 30, "Carol")
    pay_in(ward, stay, 400_000, "dep-1")
    ward.clock.set(ward.clock.now() + timedelta(minutes=1))  # the cash deposit is the older
    pay_in(ward, stay, 300_000, "dep-2", source="bank")
    today = inpatient.local_day(ward.ctx)
    charge(ward, stay, today)
    first = discharge(ward, stay, "dis-1").discharge
    assert first.released > 300_000  # the bank deposit came back whole, the cash in part
    assert first.arrears == 0

    back = inpatient_discharge.reverse_discharge(
        ctx=ward.ctx, hospital_id="h1", actor="staff:cashier", stay_id=stay.id, reversal_key="rev-1"
    )
    assert back.view.position.deposit == first.applied
    pending = balances(ward, carol)
    assert pending["cash"][1] == first.applied  # held again: what the hospital still has
    assert pending["bank"][1] == 0  # the card's money went back and is not taken again
    shown = inpatient.statement(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id)
    assert shown.netting is not None
    assert shown.netting.deposit == first.applied

    charge(ward, stay, today, fen=1_000, ref="correction")
    second = discharge(ward, stay, "dis-2").discharge
    # Every fen of the deposits is taken once or handed back once.
    assert first.released + second.applied + second.released == 700_000
    assert second.applied + second.arrears == second.cash_share
    after = balances(ward, carol)
    assert after["wallet"] == (0, 0)
    assert after["cash"][1] == after["bank"][1] == 0


def test_a_carer_cannot_check_the_patient_in_at_the_bed(ward: Any, kit: ModuleType) -> None:
    """The bedside check-in proves the patient is in the bed (the supervision rule against
    "hanging beds" reads it): a proxy's grant to check in does not stand in for that."""
    from facepay.services.proxies import register_proxy  # noqa: PLC0415

    stay = admit(ward, kit, 30, "Carol")
    register_proxy(
        ctx=ward.ctx,
        hospital_id="h1",
        actor="staff:desk",
        proxy_identification_id=card(ward, kit, 20),
        patient_id=ward.people["Carol"],
        patient_identification_id=card(ward, kit, 30),
        relation="child",
        basis="patient_consent",
        acts=["check_in", "pay"],
        valid_until=ward.clock.now() + timedelta(days=30),
    )
    with pytest.raises(Forbidden) as refused:
        inpatient.bedside_check_in(
            ctx=ward.ctx,
            hospital_id="h1",
            actor="staff:nurse-1",
            staff_confirmed=True,
            stay_id=stay.id,
            identification_id=card(ward, kit, 20),
        )
    assert refused.value.code == "patient_in_person"
    assert not inpatient.get_stay(ctx=ward.ctx, hospital_id="h1", stay_id=stay.id).check_ins
