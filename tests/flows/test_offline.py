"""Offline payment through HTTP on SQLite and PostgreSQL: the terminal registers its sealing key,
fetches its package, signs vouchers with its own key (facepay.terminal.protocol) and uploads
them. Each outcome is checked against the ledger: every account's debits and credits balance
over the whole ledger, and the terminal's suspense account holds exactly the cash of its decided
vouchers."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from tests.flows.conftest import Api
from tests.offline_till import Till

from facepay.adapters.db.tables import accounts
from facepay.client import TerminalSession
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person
from facepay.hospital.tenants import site_scope
from facepay.identity.records import BiometricConsent, ConsentRecord, TemplateRecord
from facepay.ledger.accounts import AccountKind, account_id
from facepay.shared.ids import new_id

SERIALS = iter(range(7_000, 8_000))
LIMITS = {
    "enabled": True,
    "per_payment_fen": 1_000_000,
    "cumulative_fen": 5_000_000,
    "per_patient_consecutive": 5,
    "per_terminal_consecutive": 200,
    "max_upload_age_seconds": 86_400,
    "max_library_age_seconds": 600,
    "refresh_seconds": 90,
}


def enrolled(api: Api, site: Site) -> dict[str, Any]:
    """A new insured person with a consent and a template at `site` (written straight into the
    database: enrolment by live capture is tests/flows/test_face_steps.py's subject)."""
    person = register_person(api.operator, serial=next(SERIALS))
    ctx = api.services
    now = datetime.now(UTC)
    vector = np.random.default_rng(len(person["id_number"])).standard_normal(
        ctx.engine.embedding_dim
    )
    vector = (vector / np.linalg.norm(vector)).astype("<f4")
    template_id = new_id("tpl")
    version = ctx.gallery.model_version
    sealed = ctx.sealer.seal(vector.tobytes(), template_id=template_id, model_version=version)
    consent = BiometricConsent("face_payment", "identification and payment", now, "desk", "site")
    with ctx.uow() as uow:
        uow.consents.add(
            ConsentRecord(new_id("cns"), person["person_id"], site.hospital_id, consent)
        )
        uow.templates.add(
            TemplateRecord(
                template_id, person["person_id"], site.hospital_id, version, sealed, now,
                scope=site_scope(site.hospital_id),
            )
        )  # fmt: skip
        uow.commit()
    return person


def bill(site: Site, person: dict[str, Any], fen: int) -> dict[str, Any]:
    """An outpatient bill of one class-A line of `fen`, dated today."""
    return site.post_visit(fen, person=person)


def cash_now(site: Site, made: dict[str, Any]) -> int:
    """What the patient would pay in cash now (the pre-settlement's split)."""
    split = expect(site.kiosk.request("POST", f"/v1/bills/{made['id']}/presettlement"), 200)
    return int(split["split"]["psn_cash_pay"])


def till(site: Site) -> tuple[Till, TerminalSession]:
    """A new kiosk of the site that registered its sealing key and fetched its package."""
    kiosk = site.add_terminal("kiosk")
    own = Till(kiosk.terminal_id, site.hospital_id, kiosk.key)
    key = base64.b64encode(own.sealing_public).decode("ascii")
    made = expect(kiosk.request("PUT", "/v1/terminal/sealing-key", {"public_key": key}), 200)
    assert made["terminal_id"] == kiosk.terminal_id
    refresh(own, kiosk)
    return own, kiosk


def refresh(own: Till, kiosk: TerminalSession) -> dict[str, Any]:
    package = expect(kiosk.request("GET", "/v1/terminal/offline-package"), 200)
    library = package["library"]
    own.load(
        package["limits"],
        base64.b64decode(package["server_public_key"]),
        base64.b64decode(library["sealed"]) if library else None,
    )
    return dict(package)


def upload(kiosk: TerminalSession, *signed: dict[str, str]) -> list[dict[str, Any]]:
    body = {"vouchers": list(signed)}
    return list(expect(kiosk.request("POST", "/v1/terminal/vouchers", body), 200)["results"])


def voucher(own: Till, person: dict[str, Any], made: dict[str, Any], cash: int, **kw: Any) -> Any:
    return own.pay(
        person_id=person["person_id"], bill_id=made["id"], total_fen=made["total"], cash_fen=cash,
        **kw,
    )  # fmt: skip


def balance(api: Api, kind: AccountKind, owner: str) -> int:
    ident = account_id(kind, owner)
    with api.services.uow() as uow:
        found = uow.ledger.lock_accounts([ident]).get(ident)
    return found.balance if found else 0


def check_ledger(api: Api, site: Site, own: Till) -> None:
    """The whole ledger balances; the suspense account holds the decided vouchers' cash."""
    with api.services.uow() as uow:
        ids = list(uow._connection.execute(select(accounts.c.id)).scalars())  # type: ignore[union-attr]
        found = uow.ledger.lock_accounts(ids)
    assert sum(a.debits_posted for a in found.values()) == sum(
        a.credits_posted for a in found.values()
    )
    page = expect(
        site.auditor.request("GET", f"/v1/offline-vouchers?terminal={own.terminal_id}&limit=200"),
        200,
    )
    decided = [v for v in page["items"] if v["status"] == "posted" or v["review"]]
    expected = sum(v["cash_collected_fen"] for v in decided)
    assert balance(api, AccountKind.TERMINAL_SUSPENSE, own.terminal_id) == expected


@pytest.fixture(scope="module", autouse=True)
def limits(site_a: Site) -> None:
    """Site A allows offline payments up to 10,000 yuan."""
    read = expect(site_a.admin.request("PUT", "/v1/offline-limits", LIMITS), 200)
    assert read["per_payment_fen"] == LIMITS["per_payment_fen"]


def test_limits_version_roles_and_face_limit(api: Api, site_a: Site) -> None:
    first = expect(site_a.auditor.request("GET", "/v1/offline-limits"), 200)
    assert site_a.auditor.request("PUT", "/v1/offline-limits", LIMITS).status_code == 403
    assert site_a.cashier.request("GET", "/v1/offline-limits").status_code == 403
    again = expect(site_a.admin.request("PUT", "/v1/offline-limits", LIMITS), 200)
    assert again["version"] != first["version"]
    too_high = {**LIMITS, "per_payment_fen": api.services.settings.face_pay_limit_fen}
    refused = site_a.admin.request("PUT", "/v1/offline-limits", too_high)
    assert (refused.status_code, refused.json()["code"]) == (422, "offline_limit_above_face_limit")
    assert (
        site_a.admin.request(
            "PUT", "/v1/offline-limits", {**LIMITS, "refresh_seconds": 1}
        ).status_code
        == 422
    )
    his = site_a.add_terminal("his")
    assert his.request("GET", "/v1/terminal/offline-package").status_code == 403


def test_package_post_replay(api: Api, site_a: Site) -> None:
    person = enrolled(api, site_a)
    made = bill(site_a, person, 30_000)
    own, kiosk = till(site_a)
    entry = own.person(person["person_id"])
    assert [b["bill_id"] for b in entry["bills"]] == [made["id"]]
    assert own.limits["limits"] == LIMITS
    cash = cash_now(site_a, made)
    signed = voucher(own, person, made, cash)
    (posted,) = upload(kiosk, signed)
    assert (posted["status"], posted["replayed"], posted["difference"]) == (
        "posted", False, {"kind": "none", "amount_fen": 0},
    )  # fmt: skip
    (again,) = upload(kiosk, signed)
    assert again["replayed"]
    assert again["settlement_id"] == posted["settlement_id"]
    read = expect(site_a.cashier.request("GET", f"/v1/bills/{made['id']}"), 200)
    assert read["status"] == "paid"
    check_ledger(api, site_a, own)


def test_out_of_order_forged_revoked_broken_and_reused(api: Api, site_a: Site) -> None:
    person = enrolled(api, site_a)
    bills = [bill(site_a, person, 10_000 + i) for i in range(5)]
    own, kiosk = till(site_a)
    signed = [voucher(own, person, b, 0) for b in bills[:3]]
    held = upload(kiosk, signed[2], signed[1])
    assert [(r["status"], r["reason"]) for r in held] == [("held", "counter_gap")] * 2
    released = upload(kiosk, signed[0])
    assert released[0]["status"] == "posted"
    page = expect(
        site_a.auditor.request("GET", f"/v1/offline-vouchers?terminal={own.terminal_id}"), 200
    )
    assert [v["status"] for v in page["items"]] == ["posted"] * 3
    forged = voucher(own, person, bills[3], 0, signer=Ed25519PrivateKey.generate(), chain=False)
    reused = voucher(own, person, bills[3], 0, counter=2, chain=False)
    broken = voucher(own, person, bills[3], 0, prev_hash="e" * 64)
    results = upload(kiosk, forged, reused, broken)
    assert [r["reason"] for r in results] == ["signature_bad", "counter_reused", "chain_broken"]
    assert {r["status"] for r in results} == {"quarantined"}
    quarantined = expect(
        site_a.admin.request("GET", "/v1/offline-vouchers?status=quarantined"), 200
    )
    assert {r["voucher_id"] for r in results} <= {v["id"] for v in quarantined["items"]}
    # The site admin posts the broken one after checking; the chain goes on from it.
    path = f"/v1/offline-vouchers/{results[2]['voucher_id']}/review"
    assert site_a.auditor.request("POST", path, {"decision": "post"}).status_code == 403
    reviewed = expect(site_a.admin.request("POST", path, {"decision": "post", "note": "ok"}), 200)
    assert (reviewed["review"], reviewed["status"]) == ("post", "quarantined")
    assert site_a.admin.request("POST", path, {"decision": "reject"}).status_code == 409
    rejected = expect(
        site_a.admin.request("POST", f"/v1/offline-vouchers/{results[0]['voucher_id']}/review",
                             {"decision": "reject"}),
        200,
    )  # fmt: skip
    assert rejected["review"] == "reject"
    # A revoked terminal's voucher, uploaded by another kiosk of the site, is quarantined.
    late = voucher(own, person, bills[4], 0)
    other_own, other = till(site_a)
    expect(site_a.admin.request("DELETE", f"/v1/terminals/{own.terminal_id}"), 204)
    (revoked,) = upload(other, late)
    assert revoked["reason"] == "terminal_revoked"
    check_ledger(api, site_a, own)
    check_ledger(api, site_a, other_own)


def test_arrears_refund_due_and_bill_already_paid(api: Api, site_a: Site) -> None:
    person = enrolled(api, site_a)
    offline_bill, drain, small = (bill(site_a, person, f) for f in (60_000, 400_000, 20_000))
    own, kiosk = till(site_a)
    other_own, other = till(site_a)
    cash = cash_now(site_a, offline_bill)
    # Meanwhile the window takes the large bill: the personal account is spent.
    site_a.pay_by_card(drain, person=person)
    (owed,) = upload(kiosk, voucher(own, person, offline_bill, cash))
    assert owed["status"] == "posted"
    assert owed["difference"]["kind"] == "arrears"
    assert owed["difference"]["amount_fen"] > 0
    assert (
        balance(api, AccountKind.ARREARS, person["person_id"]) >= owed["difference"]["amount_fen"]
    )
    over = cash_now(site_a, small) + 700
    (due,) = upload(kiosk, voucher(own, person, small, over))
    assert due["difference"] == {"kind": "refund_due", "amount_fen": 700}
    # Another kiosk had taken the same bill offline too: all it collected is refund due.
    (paid,) = upload(other, voucher(other_own, person, small, 1_500))
    assert (paid["reason"], paid["settlement_id"]) == ("bill_already_paid", None)
    assert paid["difference"] == {"kind": "refund_due", "amount_fen": 1_500}
    assert balance(api, AccountKind.REFUND_DUE, person["person_id"]) == 2_200
    check_ledger(api, site_a, own)
    check_ledger(api, site_a, other_own)
    # With a new open bill the site needs them offline again, but they owe arrears: denied.
    bill(site_a, person, 10_000)
    refresh(own, kiosk)
    assert person["person_id"] in own.limits["deny"]
    assert person["person_id"] not in {p["person_id"] for p in own.library["persons"]}


def test_two_uploads_at_once_settle_each_voucher_once(api: Api, site_a: Site) -> None:
    person = enrolled(api, site_a)
    bills = [bill(site_a, person, 10_000 + i) for i in range(4)]
    own, kiosk = till(site_a)
    signed = [voucher(own, person, b, 0) for b in bills]
    twin = TerminalSession(kiosk.http, kiosk.terminal_id, kiosk.key)
    answers: list[list[dict[str, Any]]] = []
    barrier = threading.Barrier(2)

    def send(session: TerminalSession) -> None:
        barrier.wait()
        answers.append(upload(session, *signed))

    threads = [threading.Thread(target=send, args=(s,)) for s in (kiosk, twin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2
    for first, second in zip(*answers, strict=True):
        assert first["status"] == second["status"] == "posted"
        assert first["settlement_id"] == second["settlement_id"]
        assert [first["replayed"], second["replayed"]].count(False) == 1
    check_ledger(api, site_a, own)


def test_another_site_cannot_upload_or_read(api: Api, site_a: Site, site_b: Site) -> None:
    person = enrolled(api, site_a)
    made = bill(site_a, person, 10_000)
    own, kiosk = till(site_a)
    signed = voucher(own, person, made, 0)
    _, stranger = till(site_b)
    (refused,) = upload(stranger, signed)
    assert (refused["status"], refused["reason"]) == ("quarantined", "foreign_terminal")
    (posted,) = upload(kiosk, signed)
    assert posted["status"] == "posted"
    assert not posted["replayed"]
    assert (
        site_b.admin.request("GET", f"/v1/offline-vouchers/{posted['voucher_id']}").status_code
        == 404
    )
    page = expect(site_b.auditor.request("GET", "/v1/offline-vouchers"), 200)
    assert posted["voucher_id"] not in {v["id"] for v in page["items"]}
    assert (
        site_b.admin.request(
            "POST", f"/v1/offline-vouchers/{posted['voucher_id']}/review", {"decision": "reject"}
        ).status_code
        == 404
    )


def test_malformed_uploads_are_refused_whole(api: Api, site_a: Site) -> None:
    own, kiosk = till(site_a)
    too_many = {"vouchers": [{"payload": "e30=", "signature": "AA==", "key_id": "k"}] * 51}
    assert kiosk.request("POST", "/v1/terminal/vouchers", too_many).status_code == 422
    bad = {"vouchers": [{"payload": "bm90IGpzb24=", "signature": "AA==", "key_id": "k"}]}
    assert kiosk.request("POST", "/v1/terminal/vouchers", bad).status_code == 422
    assert site_a.cashier.request("POST", "/v1/terminal/vouchers", bad).status_code in (401, 403)
    short = kiosk.request("PUT", "/v1/terminal/sealing-key", {"public_key": "AAAA"})
    assert short.status_code == 422
    assert own.limits["library_version"]
