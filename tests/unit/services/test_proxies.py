"""Guardians and proxies, presence at a step, and 1:1 verification (in-memory, fake engine)."""

from __future__ import annotations

from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest

from facepay.identity.id_card import IdCard, sex_of
from facepay.services.admin import register_insured_person
from facepay.services.bills import pay_bill, post_bill
from facepay.services.identification import identify, identify_by_credentials, verify
from facepay.services.presence import attend
from facepay.services.proxies import proxies_of, register_proxy, revoke_proxy
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound

YEAR = timedelta(days=365)


def card_id(world: Any, kit: ModuleType, seed: int, hospital: str = "h1") -> str:
    """An identification by ID number + insurance card of person `seed`."""
    return identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="staff:desk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def face_id(world: Any, kit: ModuleType, colour: int, hospital: str = "h1") -> str:
    """A 1:N face identification of whoever is painted `colour`."""
    found = identify(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="kiosk",
        capture=kit.capture_of(colour, world.clock),
    )
    return found.identification_id


def consent_grant(world: Any, kit: ModuleType, *, acts: tuple[str, ...] = ("pay", "collect")):
    """Bob acts for Alice on Alice's consent, for a year."""
    return register_proxy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:desk",
        proxy_identification_id=card_id(world, kit, 20),
        patient_id=world.people["Alice"],
        patient_identification_id=card_id(world, kit, 10),
        relation="carer",
        basis="patient_consent",
        acts=acts,
        valid_until=world.clock.now() + YEAR,
    )


def step(world: Any, identification_id: str, *, act: str = "collect", staff: bool = True) -> Any:
    with world.ctx.uow() as uow:
        presence = attend(
            uow,
            identification_id=identification_id,
            hospital_id="h1",
            patient_id=world.people["Alice"],
            act=act,
            used_for="rx-1",
            now=world.clock.now(),
            staff_confirmed=staff,
        )
        uow.commit()
    return presence


def test_a_proxy_collects_and_pays_by_their_own_face_audited_under_both(
    world: Any, kit: ModuleType
) -> None:
    kit.enrol(world, 20, "Bob", 20)
    grant = consent_grant(world, kit)
    assert grant.acts == {"pay", "collect"}
    presence = step(world, face_id(world, kit, 20))
    assert (presence.patient_id, presence.person_id) == (world.people["Alice"], world.people["Bob"])
    assert presence.proxy_grant_id == grant.id

    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref="rx-1",
        bill=kit.outpatient_bill(20_000),
    )
    paid = pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=face_id(world, kit, 20),
        idempotency_key="pay-by-proxy",
    )
    assert paid.bill.status == "paid"
    assert paid.receipt.record.person_id == world.people["Alice"]  # the patient's money rules
    entry = [e for e in world.store.audit.entries if e.action == "payment.settle"][-1]
    assert entry.details["person"] == world.people["Alice"]
    assert entry.details["proxy"] == world.people["Bob"]
    assert entry.details["proxy_grant"] == grant.id
    registered = [e for e in world.store.audit.entries if e.action == "proxy.register"][-1]
    assert {registered.details["patient"], registered.details["proxy"]} == {
        world.people["Alice"],
        world.people["Bob"],
    }


def test_a_stranger_an_expired_or_a_revoked_proxy_and_an_act_not_granted_are_refused(
    world: Any, kit: ModuleType
) -> None:
    kit.register(world, 30, "Carol")
    grant = consent_grant(world, kit, acts=("collect",))
    with pytest.raises(Forbidden) as stranger:
        step(world, card_id(world, kit, 30))
    assert stranger.value.code == "not_the_patient"
    with pytest.raises(Forbidden) as not_granted:
        step(world, card_id(world, kit, 20), act="check_in")
    assert not_granted.value.code == "proxy_act_not_granted"

    world.clock.set(grant.valid_until)
    with pytest.raises(Forbidden) as expired:
        step(world, card_id(world, kit, 20))
    assert expired.value.code == "proxy_expired"

    world.clock.set(grant.valid_from + timedelta(days=1))
    assert step(world, card_id(world, kit, 20)).proxy_grant_id == grant.id
    revoke_proxy(ctx=world.ctx, hospital_id="h1", actor="staff:desk", grant_id=grant.id, reason="x")
    with pytest.raises(Forbidden) as revoked:
        step(world, card_id(world, kit, 20))
    assert revoked.value.code == "proxy_expired"
    with pytest.raises(NotFound):  # another site neither revokes nor lists it
        revoke_proxy(
            ctx=world.ctx, hospital_id="h2", actor="staff:x", grant_id=grant.id, reason="x"
        )
    assert proxies_of(ctx=world.ctx, hospital_id="h2", patient_id=world.people["Alice"]) == []
    assert len(proxies_of(ctx=world.ctx, hospital_id="h1", patient_id=world.people["Alice"])) == 1


def test_a_refused_step_consumes_nothing_and_a_used_identification_is_used(
    world: Any, kit: ModuleType
) -> None:
    own = card_id(world, kit, 10)
    with pytest.raises(Forbidden) as unconfirmed:
        step(world, own, staff=False)  # a card alone at a terminal
    assert unconfirmed.value.code == "staff_confirmation_required"
    assert world.store.identifications.rows[own].used_at is None
    assert step(world, own).person_id == world.people["Alice"]
    with pytest.raises(Conflict) as again:
        step(world, own)
    assert again.value.code == "identification_used"


def test_each_basis_has_its_rules(world: Any, kit: ModuleType) -> None:
    with pytest.raises(InvalidInput) as absent:
        register_proxy(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:desk",
            proxy_identification_id=card_id(world, kit, 20),
            patient_id=world.people["Alice"],
            patient_identification_id=None,
            relation="carer",
            basis="patient_consent",
            acts=["pay"],
            valid_until=world.clock.now() + YEAR,
        )
    assert absent.value.code == "patient_consent_missing"

    born = date(2019, 6, 1)
    number = kit.person_number(40, born=born)
    child = register_insured_person(
        ctx=world.ctx,
        actor="admin",
        id_card=IdCard(number, "Dan", sex_of(number), born),
        category="resident",
        insurance_card_number="CARD0040",
        phone=None,
        personal_account_fen=0,
    )

    def parent(until: Any, evidence: str | None) -> Any:
        return register_proxy(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:desk",
            proxy_identification_id=card_id(world, kit, 20),
            patient_id=child.id,
            patient_identification_id=None,
            relation="parent",
            basis="parent_of_minor",
            acts=["pay", "collect", "check_in"],
            valid_until=until,
            evidence_ref=evidence,
        )

    with pytest.raises(InvalidInput) as no_evidence:
        parent(world.clock.now() + YEAR, None)
    assert no_evidence.value.code == "evidence_missing"
    with pytest.raises(InvalidInput) as too_long:
        parent(world.clock.now() + 20 * YEAR, "HR-1")
    assert too_long.value.code == "grant_too_long"
    grant = parent(world.clock.now() + 5 * YEAR, "HR-1")
    assert grant.basis == "parent_of_minor"
    with pytest.raises(Conflict) as twice:
        parent(world.clock.now() + 5 * YEAR, "HR-1")
    assert twice.value.code == "proxy_already_granted"


def test_verify_compares_only_with_the_named_persons(world: Any, kit: ModuleType) -> None:
    kit.enrol(world, 10, "Alice", 10)
    kit.enrol(world, 20, "Bob", 20)
    alice, bob = world.people["Alice"], world.people["Bob"]

    def check(colour: int, persons: list[str]) -> Any:
        return verify(
            ctx=world.ctx,
            hospital_id="h1",
            actor="window",
            capture=kit.capture_of(colour, world.clock),
            person_ids=persons,
        )

    assert (check(10, [alice]).decision, check(10, [alice]).person_id) == ("match", alice)
    assert check(20, [alice]).decision == "no_match"  # Bob's face is not Alice
    assert check(20, [alice, bob]).person_id == bob  # ...but it is her proxy's
    with pytest.raises(InvalidInput) as too_many:
        check(10, [f"p{i}" for i in range(6)])
    assert too_many.value.code == "bad_person_ids"
    assert check(10, ["nobody"]).decision == "no_match"


def test_a_proxy_cannot_give_the_patients_consent_in_their_place(
    world: Any, kit: ModuleType
) -> None:
    """Review: consent is the patient's own; a carer standing in for them at the desk (with a
    check_in grant) must not register another proxy on the patient's consent."""
    kit.register(world, 30, "Carol")
    consent_grant(world, kit, acts=("check_in",))  # Bob checks Alice in
    with pytest.raises(Forbidden) as refused:
        register_proxy(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:desk",
            proxy_identification_id=card_id(world, kit, 30),  # Carol
            patient_id=world.people["Alice"],
            patient_identification_id=card_id(world, kit, 20),  # Bob, not Alice
            relation="carer",
            basis="patient_consent",
            acts=["pay"],
            valid_until=world.clock.now() + YEAR,
        )
    assert refused.value.code == "not_the_patient"
    assert [
        g.proxy_id
        for g in proxies_of(ctx=world.ctx, hospital_id="h1", patient_id=world.people["Alice"])
    ] == [world.people["Bob"]]


def test_an_expired_grant_is_closed_when_the_pair_registers_again(
    world: Any, kit: ModuleType
) -> None:
    first = consent_grant(world, kit)
    world.clock.set(first.valid_until + timedelta(days=1))
    second = consent_grant(world, kit)
    assert world.store.proxies.rows[first.id].revoked_by == "expired"
    assert second.status(world.clock.now()) == "active"
