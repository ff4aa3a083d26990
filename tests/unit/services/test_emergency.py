"""Emergency records on the in-memory unit of work: identify across the region, open, charge,
merge, pay; the arrears in the ledger; the refusals."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.hospital.emergency import EmergencyReason
from facepay.insurance.model import BillLine
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services import emergency
from facepay.services.audit import verify_audit
from facepay.services.bills import pay_bill
from facepay.services.identification import identify, identify_by_credentials
from facepay.services.proxies import register_proxy
from facepay.services.support import LivenessRefused
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.vision.liveness import CheckResult, LivenessPolicy
from facepay.vision.liveness.checks.base import Evidence, skipped

UNCONSCIOUS = EmergencyReason("unconscious")


def lines(*prices: int) -> tuple[BillLine, ...]:
    return tuple(
        BillLine(f"E{i}", f"emergency item {i}", "A", price, Decimal(1))
        for i, price in enumerate(prices)
    )


def balance(world: Any, kind: AccountKind, owner: str) -> int:
    account = world.store.ledger.accounts.get(account_id(kind, owner))
    return account.balance if account else 0


def ledger_sums(world: Any) -> tuple[int, int]:
    accounts = world.store.ledger.accounts.values()
    return sum(a.debits_posted for a in accounts), sum(a.credits_posted for a in accounts)


def open_unknown(world: Any, hospital: str = "h1") -> Any:
    return emergency.open_record(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="staff:nurse",
        visit_type="outpatient",
        sex="M",
        estimated_age=40,
        notes="found in the street, unconscious",
    )


def charge(world: Any, record_id: str, key: str, *prices: int, hospital: str = "h1") -> Any:
    return emergency.charge_record(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="staff:doctor",
        record_id=record_id,
        lines=lines(*prices),
        idempotency_key=f"{hospital}:{key}",
    )


def card(world: Any, kit: ModuleType, seed: int, hospital: str = "h1") -> str:
    return identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="desk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def test_unknown_patient_is_charged_merged_and_pays(world: Any, kit: ModuleType) -> None:
    record = open_unknown(world)
    assert record.number == "ER-20260504-0001"
    assert record.person_id is None
    assert open_unknown(world).number == "ER-20260504-0002"
    first = charge(world, record.id, "c-1", 12_000, 3_500)
    again = charge(world, record.id, "c-1", 12_000, 3_500)
    assert again.replayed
    assert again.charge.id == first.charge.id
    with pytest.raises(Conflict) as clash:
        charge(world, record.id, "c-1", 99)
    assert clash.value.code == "idempotency_conflict"
    second = charge(world, record.id, "c-2", 20_000)
    assert second.record.charged_fen == 35_500
    assert second.record.line_count == 3
    owner = f"h1/{record.id}"
    assert balance(world, AccountKind.EMERGENCY_ARREARS, owner) == 35_500
    assert balance(world, AccountKind.HOSPITAL_UNSETTLED, "h1") == 35_500
    view = emergency.get_record(ctx=world.ctx, hospital_id="h1", record_id=record.id)
    assert view.arrears_fen == 35_500
    assert len(view.charges) == 2

    alice = world.people["Alice"]
    before = balance(world, AccountKind.ARREARS, alice)
    sums = ledger_sums(world)
    merged = emergency.merge_record(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        record_id=record.id,
        identification_id=card(world, kit, 10),
        hospital_tier=3,
    )
    assert merged.moved_fen == 35_500
    assert merged.record.status == "merged"
    assert merged.bill.person_id == alice
    assert merged.bill.total == 35_500
    assert merged.bill.external_ref == record.number
    assert merged.bill.status == "open"
    assert sorted(line.code for line in merged.bill.bill.lines) == ["E0", "E0", "E1"]
    # The arrears moved, none lost: the record owes nothing, the person owes it all.
    assert balance(world, AccountKind.EMERGENCY_ARREARS, owner) == 0
    assert balance(world, AccountKind.ARREARS, alice) == before + 35_500
    assert balance(world, AccountKind.HOSPITAL_UNSETTLED, "h1") == 35_500
    after = ledger_sums(world)
    assert after[0] - sums[0] == after[1] - sums[1] == 35_500  # one transfer, both sides

    with pytest.raises(Conflict) as merged_twice:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:cashier",
            record_id=record.id,
            identification_id=card(world, kit, 10),
        )
    assert merged_twice.value.code == "emergency_already_merged"
    with pytest.raises(Conflict) as late:
        charge(world, record.id, "c-3", 100)
    assert late.value.code == "emergency_record_merged"

    paid = pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=merged.bill.id,
        identification_id=card(world, kit, 10),
        idempotency_key="h1:pay-er-1",
    )
    s = paid.receipt.record.settlement
    assert s.medfee_sumamt == 35_500 == s.fund_pay_sumamt + s.acct_pay + s.psn_cash_pay
    assert balance(world, AccountKind.ARREARS, alice) == before
    assert balance(world, AccountKind.HOSPITAL_UNSETTLED, "h1") == 0
    settled = emergency.get_record(ctx=world.ctx, hospital_id="h1", record_id=record.id)
    assert settled.record.status == "settled"
    actions = [e.action for e in world.store.audit.entries if e.subject == record.id]
    assert actions == [
        "emergency.open",
        "emergency.charge",
        "emergency.charge",
        "emergency.merge",
        "emergency.settle",
    ]
    assert verify_audit(ctx=world.ctx).ok


def test_another_site_sees_nothing(world: Any, kit: ModuleType) -> None:
    record = open_unknown(world)
    with pytest.raises(NotFound):
        charge(world, record.id, "x-1", 100, hospital="h2")
    with pytest.raises(NotFound):
        emergency.get_record(ctx=world.ctx, hospital_id="h2", record_id=record.id)
    with pytest.raises(NotFound):
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h2",
            actor="staff:cashier",
            record_id=record.id,
            identification_id=card(world, kit, 10, hospital="h2"),
            hospital_tier=2,
        )
    assert emergency.list_records(ctx=world.ctx, hospital_id="h2", status=None) == []
    # An identification of another site proves nothing here.
    with pytest.raises(NotFound):
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:cashier",
            record_id=record.id,
            identification_id=card(world, kit, 10, hospital="h2"),
            hospital_tier=2,
        )


def test_merge_refusals(world: Any, kit: ModuleType) -> None:
    record = open_unknown(world)
    with pytest.raises(Conflict) as empty:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="c",
            record_id=record.id,
            identification_id=card(world, kit, 10),
            hospital_tier=2,
        )
    assert empty.value.code == "emergency_record_empty"
    charge(world, record.id, "m-1", 5_000)
    with pytest.raises(InvalidInput) as nobody:
        emergency.merge_record(
            ctx=world.ctx, hospital_id="h1", actor="c", record_id=record.id, identification_id=None
        )
    assert nobody.value.code == "emergency_identification_required"
    with pytest.raises(InvalidInput) as tier:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="c",
            record_id=record.id,
            identification_id=card(world, kit, 10),
        )
    assert tier.value.code == "hospital_tier_required"
    # A failed merge stores nothing: the record is still open and owes the same.
    view = emergency.get_record(ctx=world.ctx, hospital_id="h1", record_id=record.id)
    assert view.record.status == "open"
    assert view.arrears_fen == 5_000


def test_known_patient_who_cannot_pay(world: Any, kit: ModuleType) -> None:
    record = emergency.open_record(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        visit_type="inpatient",
        sex="F",
        estimated_age=None,
        notes="",
        identification_id=card(world, kit, 20),
    )
    assert record.person_id == world.people["Bob"]
    charge(world, record.id, "k-1", 80_000)
    with pytest.raises(Conflict) as other:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="c",
            record_id=record.id,
            identification_id=card(world, kit, 10),
            hospital_tier=3,
        )
    assert other.value.code == "emergency_person_mismatch"
    merged = emergency.merge_record(
        ctx=world.ctx,
        hospital_id="h1",
        actor="c",
        record_id=record.id,
        identification_id=None,
        hospital_tier=3,
    )
    assert merged.bill.person_id == world.people["Bob"]
    assert merged.bill.bill.visit_type == "inpatient"


def test_region_wide_identification_finds_a_face_enrolled_elsewhere(
    world: Any, kit: ModuleType
) -> None:
    kit.enrol(world, 20, "Bob", 20, hospital="h2")  # a site-only consent at h2
    here = identify(
        ctx=world.ctx, hospital_id="h1", actor="kiosk", capture=kit.capture_of(20, world.clock)
    )
    assert here.decision == "no_match"  # the site's own search never sees h2's site-only faces
    found = emergency.identify_emergency(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:doctor",
        capture=kit.capture_of(20, world.clock),
        mode="cooperative",
        reason=UNCONSCIOUS,
    )
    assert (found.decision, found.person_id) == ("match", world.people["Bob"])
    assert found.display_name == "B**"
    assert found.enrolled_here is False
    assert found.sites_searched == 2
    entry = world.store.audit.entries[-1]
    assert entry.action == "emergency.identify"
    assert entry.details["reason"] == "unconscious"
    unknown = emergency.identify_emergency(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:doctor",
        capture=kit.capture_of(77, world.clock),
        mode="cooperative",
        reason=EmergencyReason("other", "brought in by police"),
    )
    assert unknown.decision == "no_match"
    assert unknown.person_id is None

    record = open_unknown(world)
    charge(world, record.id, "r-1", 1_000)
    with pytest.raises(Forbidden) as nobody:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="c",
            record_id=record.id,
            identification_id=unknown.identification_id,
            hospital_tier=2,
        )
    assert nobody.value.code == "not_identified"
    merged = emergency.merge_record(
        ctx=world.ctx,
        hospital_id="h1",
        actor="c",
        record_id=record.id,
        identification_id=found.identification_id,
        hospital_tier=2,
    )
    assert merged.bill.person_id == world.people["Bob"]
    second = open_unknown(world)
    charge(world, second.id, "r-2", 1_000)
    with pytest.raises(Conflict) as used:
        emergency.merge_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="c",
            record_id=second.id,
            identification_id=found.identification_id,
            hospital_tier=2,
        )
    assert used.value.code == "identification_used"
    # The emergency identification never pays: a bill wants one of the site's own.
    with pytest.raises(NotFound):
        pay_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="kiosk",
            bill_id=merged.bill.id,
            identification_id=found.identification_id,
            idempotency_key="h1:pay-x",
        )


@dataclasses.dataclass
class Solid:
    """A `motion` check that either saw a solid head or had nothing to judge."""

    moved: bool
    name: str = "motion"

    def run(self, evidence: Evidence) -> CheckResult:
        if not self.moved:
            return skipped(self.name, "no head movement to judge")
        return CheckResult(self.name, 1.0, True, "3D motion")


def test_assisted_capture_needs_evidence_of_a_solid_head(world: Any, kit: ModuleType) -> None:
    kit.enrol(world, 10, "Alice", 10)

    def with_motion(moved: bool) -> Any:
        policy = LivenessPolicy(engine=world.ctx.engine, checks=[world.switch, Solid(moved)])
        return dataclasses.replace(world.ctx, liveness=policy)

    def assisted(ctx: Any) -> Any:
        return emergency.identify_emergency(
            ctx=ctx,
            hospital_id="h1",
            actor="staff:nurse",
            capture=kit.capture_of(10, world.clock),
            mode="assisted",
            reason=UNCONSCIOUS,
        )

    with pytest.raises(LivenessRefused) as still:
        assisted(with_motion(False))
    assert still.value.code == "liveness_retry"
    assert world.store.audit.entries[-1].action == "liveness.refused"
    found = assisted(with_motion(True))
    assert found.person_id == world.people["Alice"]
    assert found.enrolled_here is True
    assert world.store.audit.entries[-1].details["mode"] == "assisted"
    world.switch.spoof = True
    with pytest.raises(LivenessRefused) as spoof:
        assisted(with_motion(True))
    assert spoof.value.code == "liveness_spoof"


def test_reasons_and_records_check_themselves(world: Any) -> None:
    with pytest.raises(InvalidInput):
        EmergencyReason("other")
    with pytest.raises(InvalidInput):
        EmergencyReason("bored")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        emergency.open_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="n",
            visit_type="outpatient",
            sex="X",  # type: ignore[arg-type]
            estimated_age=40,
            notes="",
        )
    with pytest.raises(InvalidInput):
        emergency.open_record(
            ctx=world.ctx,
            hospital_id="h1",
            actor="n",
            visit_type="outpatient",
            sex="U",
            estimated_age=400,
            notes="",
        )
    with pytest.raises(NotFound):
        emergency.open_record(
            ctx=world.ctx,
            hospital_id="nowhere",
            actor="n",
            visit_type="outpatient",
            sex="U",
            estimated_age=None,
            notes="",
        )


def test_a_registered_proxy_opens_and_merges_for_the_patient_audited_under_both(
    world: Any, kit: ModuleType
) -> None:
    """Review: open and merge spent identifications themselves, so a carer with a check_in
    grant could not act for the patient, and nothing said who stood at the desk."""
    alice, bob = world.people["Alice"], world.people["Bob"]
    kit.register(world, 30, "Carol")

    def grant(proxy_seed: int, acts: list[str]) -> Any:
        return register_proxy(
            ctx=world.ctx, hospital_id="h1", actor="staff:desk",
            proxy_identification_id=card(world, kit, proxy_seed), patient_id=alice,
            patient_identification_id=card(world, kit, 10), relation="carer",
            basis="patient_consent", acts=acts, valid_until=world.clock.now() + timedelta(days=30),
        )  # fmt: skip

    bobs = grant(20, ["check_in"])
    record = emergency.open_record(
        ctx=world.ctx, hospital_id="h1", actor="staff:desk", visit_type="outpatient", sex="F",
        estimated_age=None, notes="", identification_id=card(world, kit, 20), patient_id=alice,
    )  # fmt: skip
    assert record.person_id == alice
    opened = [e for e in world.store.audit.entries if e.action == "emergency.open"][-1]
    assert (opened.details["patient"], opened.details["present"]) == (alice, bob)
    assert opened.details["proxy_grant"] == bobs.id
    assert opened.details["person"] == alice

    unknown = open_unknown(world)
    charge(world, unknown.id, "px-1", 4_000)
    grant(30, ["pay"])  # Carol may pay for Alice, not check her in

    def merge(seed: int, patient: str | None) -> Any:
        return emergency.merge_record(
            ctx=world.ctx, hospital_id="h1", actor="staff:desk", record_id=unknown.id,
            identification_id=card(world, kit, seed), hospital_tier=2, patient_id=patient,
        )  # fmt: skip

    with pytest.raises(Forbidden) as not_granted:
        merge(30, alice)
    assert not_granted.value.code == "proxy_act_not_granted"
    with pytest.raises(Conflict) as stranger:
        merge(30, bob)  # Carol is nobody to Bob
    assert stranger.value.code == "emergency_person_mismatch"
    merged = merge(20, alice)
    assert merged.bill.person_id == alice
    assert merged.record.person_id == alice
    entry = [e for e in world.store.audit.entries if e.action == "emergency.merge"][-1]
    assert (entry.details["patient"], entry.details["present"]) == (alice, bob)
    assert entry.details["proxy_grant"] == bobs.id
    with pytest.raises(Conflict) as other:  # a record opened for Alice goes to Alice only
        emergency.merge_record(
            ctx=world.ctx, hospital_id="h1", actor="staff:desk", record_id=record.id,
            identification_id=card(world, kit, 20), hospital_tier=2, patient_id=bob,
        )  # fmt: skip
    assert other.value.code == "emergency_person_mismatch"
    with pytest.raises(InvalidInput) as unproven:  # naming a patient proves nothing
        emergency.open_record(
            ctx=world.ctx, hospital_id="h1", actor="staff:desk", visit_type="outpatient",
            sex="F", estimated_age=None, notes="", patient_id=alice,
        )  # fmt: skip
    assert unproven.value.code == "emergency_identification_required"
