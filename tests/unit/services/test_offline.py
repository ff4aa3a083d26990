"""Offline payment's server side on the in-memory store: the package, each sync outcome, the
review, and the ledger after each (every posting balances; the terminal's suspense account holds
exactly the cash it collected)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.offline_till import Till
from tests.unit.services.conftest import World, enrol, outpatient_bill, person_number

from facepay.access.rbac import Principal, PrincipalKind, TerminalKind
from facepay.adapters.interchange import parse_bill
from facepay.hospital.bills import PostedBill
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services import offline_limits, offline_review, offline_sync
from facepay.services.admin import register_terminal
from facepay.services.bills import post_bill, presettle
from facepay.services.consent import withdraw_consent
from facepay.services.memory import InMemoryUnitOfWork
from facepay.services.offline_package import offline_package
from facepay.services.payments import Payer, settle_and_post
from facepay.shared.errors import InvalidInput, NotFound
from facepay.terminal.protocol import OfflineLimits, ed25519_public_raw

SERVER_KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def site(world: World) -> World:
    """Alice enrolled at h1 with the server's offline key wired in."""
    world.ctx = replace(world.ctx, offline_key=lambda: SERVER_KEY)
    enrol(world, 10, "Alice", 10)
    return world


def till_of(world: World, hospital: str = "h1") -> Till:
    key = Ed25519PrivateKey.generate()
    made = register_terminal(
        ctx=world.ctx, actor="admin", hospital_id=hospital, name="lobby",
        public_key=ed25519_public_raw(key),
    )  # fmt: skip
    till = Till(made.id, hospital, key)
    offline_limits.register_sealing_key(
        ctx=world.ctx, hospital_id=hospital, terminal_id=made.id, public_key=till.sealing_public
    )
    return till


def bill_for(world: World, fen: int = 20_000, person: int = 10) -> PostedBill:
    return post_bill(
        ctx=world.ctx, hospital_id="h1", actor="cashier", id_number=person_number(person),
        external_ref=f"HIS-{fen}-{len(world.store.bills.rows)}", bill=outpatient_bill(fen),
    )  # fmt: skip


def refresh(world: World, till: Till) -> None:
    package = offline_package(
        ctx=world.ctx, hospital_id=till.hospital_id, terminal_id=till.terminal_id
    )
    till.load(
        package.limits,
        package.server_public_key,
        package.library.sealed if package.library else None,
    )


def caller(till: Till) -> Principal:
    return Principal(
        PrincipalKind.TERMINAL, till.terminal_id, till.hospital_id, terminal_kind=TerminalKind.KIOSK
    )


def sync(world: World, till: Till, *signed: dict[str, str]) -> list[offline_sync.VoucherResult]:
    return offline_sync.sync_vouchers(ctx=world.ctx, caller=caller(till), vouchers=list(signed))


def cash_of(world: World, bill: PostedBill) -> int:
    return presettle(ctx=world.ctx, hospital_id="h1", bill_id=bill.id).settlement.psn_cash_pay


def balance(world: World, kind: AccountKind, owner: str) -> int:
    with InMemoryUnitOfWork(world.store) as uow:
        found = uow.ledger.lock_accounts([account_id(kind, owner)])
    account = found.get(account_id(kind, owner))
    return account.balance if account else 0


def check_ledger(world: World, till: Till) -> None:
    """Debits equal credits over the whole ledger; the suspense account holds exactly the cash
    of the terminal's vouchers that were decided (posted, or reviewed)."""
    accounts: dict[str, Any] = world.store.ledger.__dict__.get("accounts", {})
    debits = sum(a.debits_posted for a in accounts.values())
    credits = sum(a.credits_posted for a in accounts.values())
    assert debits == credits
    decided = [
        r
        for r in world.store.offline.rows.values()
        if r.terminal_id == till.terminal_id and (r.status == "posted" or r.review is not None)
    ]
    expected = sum(r.cash_collected_fen for r in decided)
    assert balance(world, AccountKind.TERMINAL_SUSPENSE, till.terminal_id) == expected


def test_the_package_is_signed_and_sealed_to_the_terminal(site: World) -> None:
    bill = bill_for(site)
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]
    assert till.limits["limits"] == OfflineLimits().to_json()
    assert till.limits["deny"] == []
    assert till.limits["face_pay_limit_fen"] == site.ctx.settings.face_pay_limit_fen
    person = till.person(alice)
    assert person["display_name"] == "A****"
    assert [b["bill_id"] for b in person["bills"]] == [bill.id]
    assert person["templates"][0]["model_version"] == "pixel-v1"
    assert {p["id"] for p in till.library["policies"]} == {p.id for p in site.ctx.policies}
    # A second refresh with nothing changed issues the same library version again.
    version = till.limits["library_version"]
    refresh(site, till)
    assert till.limits["library_version"] == version
    packages = [e for e in site.store.audit.__dict__["entries"] if e.action == "offline.package"]
    assert len(packages) == 1
    assert "embedding" not in str(packages[0].details)


def test_no_sealing_key_no_library_and_bob_without_face_is_left_out(site: World) -> None:
    bill_for(site, person=20)  # Bob: an open bill, never enrolled
    key = Ed25519PrivateKey.generate()
    made = register_terminal(
        ctx=site.ctx, actor="admin", hospital_id="h1", name="w", public_key=ed25519_public_raw(key)
    )
    package = offline_package(ctx=site.ctx, hospital_id="h1", terminal_id=made.id)
    assert package.library is None
    till = till_of(site)
    refresh(site, till)
    assert till.library["persons"] == []


def test_limits_are_versioned_and_kept_below_the_face_limit(site: World) -> None:
    limit = site.ctx.settings.face_pay_limit_fen
    with pytest.raises(InvalidInput) as refused:
        offline_limits.set_limits(
            ctx=site.ctx, hospital_id="h1", actor="admin",
            limits=OfflineLimits(per_payment_fen=limit, cumulative_fen=limit * 2),
        )  # fmt: skip
    assert refused.value.code == "offline_limit_above_face_limit"
    first = offline_limits.set_limits(
        ctx=site.ctx, hospital_id="h1", actor="admin", limits=OfflineLimits(per_payment_fen=9_000)
    )
    second = offline_limits.set_limits(
        ctx=site.ctx, hospital_id="h1", actor="admin", limits=OfflineLimits(per_payment_fen=8_000)
    )
    assert first.version != second.version
    read = offline_limits.get_limits(ctx=site.ctx, hospital_id="h1")
    assert (read.version, read.limits.per_payment_fen) == (second.version, 8_000)
    assert offline_limits.get_limits(ctx=site.ctx, hospital_id="h2").version.startswith("default")


def test_post_replay_and_ledger(site: World) -> None:
    bill = bill_for(site)
    till = till_of(site)
    refresh(site, till)
    cash = cash_of(site, bill)
    signed = till.pay(
        person_id=site.people["Alice"], bill_id=bill.id, total_fen=bill.total, cash_fen=cash
    )
    (result,) = sync(site, till, signed)
    assert (result.status, result.reason, result.difference_kind) == ("posted", None, "none")
    assert result.settlement_id is not None
    assert site.store.bills.rows[bill.id].status == "paid"
    (again,) = sync(site, till, signed)
    assert again.replayed
    assert again.settlement_id == result.settlement_id
    assert len(site.store.settlements.records) == 1
    check_ledger(site, till)


def test_out_of_order_is_held_then_released(site: World) -> None:
    bills = [bill_for(site, 20_000 + i) for i in range(3)]
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]
    signed = [
        till.pay(person_id=alice, bill_id=b.id, total_fen=b.total, cash_fen=cash_of(site, b))
        for b in bills
    ]
    held = sync(site, till, signed[2], signed[1])
    assert [(r.status, r.reason) for r in held] == [("held", "counter_gap")] * 2
    results = sync(site, till, signed[0], signed[2])
    assert [r.status for r in results] == ["posted", "posted"]
    assert results[1].replayed
    assert site.store.offline.rows[held[1].voucher_id].status == "posted"
    assert site.store.offline.states[till.terminal_id].last_counter == 3
    check_ledger(site, till)


def test_forged_revoked_reused_and_broken_chain_are_quarantined(site: World) -> None:
    bills = [bill_for(site, 20_000 + i) for i in range(4)]
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]

    def pay(bill: PostedBill, **kw: Any) -> dict[str, str]:
        return till.pay(
            person_id=alice, bill_id=bill.id, total_fen=bill.total, cash_fen=bill.total, **kw
        )

    forged = pay(bills[0], signer=Ed25519PrivateKey.generate(), chain=False)
    first = pay(bills[0])
    reused = pay(bills[1], counter=1, chain=False)
    broken = pay(bills[2], prev_hash="f" * 64)
    results = sync(site, till, forged, first, reused, broken)
    assert [(r.status, r.reason) for r in results] == [
        ("quarantined", "signature_bad"),
        ("posted", None),
        ("quarantined", "counter_reused"),
        ("quarantined", "chain_broken"),
    ]
    # Behind the broken chain, the next voucher waits; the review posts the broken one and
    # releases it.
    after = pay(bills[3])
    (waiting,) = sync(site, till, after)
    assert waiting.status == "held"
    reviewed = offline_review.review_voucher(
        ctx=site.ctx, hospital_id="h1", actor="staff:admin", voucher_id=results[3].voucher_id,
        decision="post", note="terminal log checked",
    )  # fmt: skip
    assert reviewed.review == "post"
    assert reviewed.settlement_id is not None
    assert site.store.offline.rows[waiting.voucher_id].status == "posted"
    # The revoked terminal's vouchers are quarantined.
    with InMemoryUnitOfWork(site.store) as uow:
        uow.tenants.set_terminal_active(till.terminal_id, False)
        uow.commit()
    late = pay(bills[1], counter=till.counter + 1)
    assert sync(site, till, late)[0].reason == "terminal_revoked"
    check_ledger(site, till)


def test_arrears_when_the_accumulators_changed_and_refund_due(site: World) -> None:
    big, small = bill_for(site, 300_000), bill_for(site, 20_000)
    till = till_of(site)
    offline_limits.set_limits(
        ctx=site.ctx, hospital_id="h1", actor="admin",
        limits=OfflineLimits(per_payment_fen=400_000, cumulative_fen=1_000_000),
    )  # fmt: skip
    refresh(site, till)
    alice = site.people["Alice"]
    cash = cash_of(site, big)
    # Meanwhile a self-paid bill emptied the personal account: the cash part is larger now.
    paid_elsewhere = replace(
        bill_for(site),
        bill=parse_bill(
            {
                "visit_type": "outpatient",
                "hospital_tier": 2,
                "service_date": "2026-05-04",
                "lines": [
                    {"code": "C9", "item_class": "C", "unit_price": 100_000, "quantity": "1"}
                ],
            }
        ),
    )
    person = site.store.people.rows[alice]
    settle_and_post(
        uow=InMemoryUnitOfWork(site.store), hospital_id="h1", bill=paid_elsewhere.bill,
        payer=Payer(alice, person.category), policy=site.ctx.policies.pick(
            service_date=paid_elsewhere.bill.service_date, category=person.category
        ), idempotency_key="elsewhere",
    )  # fmt: skip
    owed = sync(
        site, till, till.pay(person_id=alice, bill_id=big.id, total_fen=big.total, cash_fen=cash)
    )
    assert (owed[0].status, owed[0].difference_kind) == ("posted", "arrears")
    assert balance(site, AccountKind.ARREARS, alice) == owed[0].difference_fen > 0
    over = cash_of(site, small) + 1_000
    due = sync(
        site,
        till,
        till.pay(person_id=alice, bill_id=small.id, total_fen=small.total, cash_fen=over),
    )
    assert (due[0].difference_kind, due[0].difference_fen) == ("refund_due", 1_000)
    assert balance(site, AccountKind.REFUND_DUE, alice) == 1_000
    check_ledger(site, till)
    # Alice owes arrears now: the next package denies her.
    refresh(site, till)
    assert alice in till.limits["deny"]


def test_bill_already_paid_is_refund_due(site: World) -> None:
    bill = bill_for(site)
    till, other = till_of(site), till_of(site)
    refresh(site, till)
    refresh(site, other)
    alice = site.people["Alice"]
    cash = 5_000  # what the terminal collected, whatever the split
    first = sync(
        site, till, till.pay(person_id=alice, bill_id=bill.id, total_fen=bill.total, cash_fen=cash)
    )
    second = sync(
        site,
        other,
        other.pay(person_id=alice, bill_id=bill.id, total_fen=bill.total, cash_fen=cash),
    )
    assert first[0].difference_kind == "refund_due"
    assert (second[0].status, second[0].reason) == ("posted", "bill_already_paid")
    assert (second[0].difference_kind, second[0].difference_fen) == ("refund_due", cash)
    assert second[0].settlement_id is None
    check_ledger(site, till)
    check_ledger(site, other)


def test_evidence_limits_versions_and_age(site: World) -> None:
    bills = [bill_for(site, 20_000 + i) for i in range(5)]
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]

    def pay(bill: PostedBill, **kw: Any) -> offline_sync.VoucherResult:
        return sync(
            site,
            till,
            till.pay(person_id=alice, bill_id=bill.id, total_fen=bill.total, cash_fen=0, **kw),
        )[0]

    assert pay(bills[0], score=500_000).reason == "evidence_rejected"
    assert pay(bills[1], live=False).reason == "evidence_rejected"
    assert pay(bills[2], template_id="tpl_other").reason == "evidence_rejected"
    old = site.clock.now() - timedelta(days=2)
    assert pay(bills[3], created_at=old).reason == "upload_too_late"
    till.limits["version"] = "not-issued"
    assert pay(bills[4]).reason == "limits_not_issued"
    # Each took its place in the chain: nothing waits, no money moved.
    assert site.store.offline.states[till.terminal_id].last_counter == 5
    assert all(b.status == "open" for b in site.store.bills.rows.values())
    check_ledger(site, till)
    rejected = offline_review.review_voucher(
        ctx=site.ctx, hospital_id="h1", actor="staff:admin",
        voucher_id=next(iter(site.store.offline.rows)), decision="reject", note="",
    )  # fmt: skip
    assert rejected.review == "reject"


def test_another_site_neither_uploads_nor_reads(site: World) -> None:
    bill = bill_for(site)
    till = till_of(site)
    refresh(site, till)
    stranger = till_of(site, "h2")
    signed = till.pay(
        person_id=site.people["Alice"], bill_id=bill.id, total_fen=bill.total, cash_fen=0
    )
    (refused,) = sync(site, stranger, signed)
    assert (refused.status, refused.reason) == ("quarantined", "foreign_terminal")
    assert site.store.offline.rows == {}
    (posted,) = sync(site, till, signed)
    with pytest.raises(NotFound):
        offline_review.get_voucher(ctx=site.ctx, hospital_id="h2", voucher_id=posted.voucher_id)
    assert (
        offline_review.list_vouchers(
            ctx=site.ctx, hospital_id="h2", status=None, terminal_id=None, after=None, limit=50
        )
        == []
    )
    (again,) = sync(site, stranger, signed)
    assert again.reason == "foreign_terminal"


def test_withdrawn_consent_is_denied(site: World) -> None:
    bill_for(site)
    till = till_of(site)
    withdraw_consent(ctx=site.ctx, hospital_id="h1", actor="desk", person_id=site.people["Alice"])
    refresh(site, till)
    assert till.limits["deny"] == [site.people["Alice"]]
    assert till.library["persons"] == []


def test_malformed_uploads_change_nothing(site: World) -> None:
    till = till_of(site)
    with pytest.raises(InvalidInput):
        sync(site, till, {"payload": "bm90IGpzb24=", "signature": "", "key_id": ""})
    with pytest.raises(InvalidInput):
        offline_sync.sync_vouchers(ctx=site.ctx, caller=caller(till), vouchers=[])
    assert site.store.offline.rows == {}


def test_a_held_voucher_sent_again_is_released_if_its_predecessor_was_decided(
    site: World,
) -> None:
    first_bill, second_bill = bill_for(site, 20_000), bill_for(site, 21_000)
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]
    first = till.pay(person_id=alice, bill_id=first_bill.id, total_fen=first_bill.total, cash_fen=0)
    second = till.pay(
        person_id=alice, bill_id=second_bill.id, total_fen=second_bill.total, cash_fen=0
    )
    assert sync(site, till, second)[0].status == "held"
    # The first one is decided by a request that ends before it releases anything.
    (upload,) = offline_sync._parse([first])
    decided, _ = offline_sync._decide_upload(site.ctx, caller(till), upload)
    assert decided.status == "posted"
    (again,) = sync(site, till, second)
    assert (again.status, again.replayed) == ("posted", False)
    check_ledger(site, till)


def test_a_reviewed_bill_mismatch_settles_the_bill_and_refunds_the_excess(site: World) -> None:
    bill = bill_for(site)
    till = till_of(site)
    refresh(site, till)
    alice = site.people["Alice"]
    signed = till.pay(person_id=alice, bill_id=bill.id, total_fen=bill.total + 1, cash_fen=300)
    (quarantined,) = sync(site, till, signed)
    assert quarantined.reason == "bill_mismatch"
    reviewed = offline_review.review_voucher(
        ctx=site.ctx, hospital_id="h1", actor="staff:admin",
        voucher_id=quarantined.voucher_id, decision="post", note="",
    )  # fmt: skip
    assert (reviewed.difference_kind, reviewed.difference_fen) == ("refund_due", 300)
    assert site.store.bills.rows[bill.id].status == "paid"
    assert reviewed.settlement_id is not None
    check_ledger(site, till)
