"""A patient's balances over HTTP on SQLite and PostgreSQL: the arrears and refund due an offline
payment left (built as tests/flows/test_offline.py builds them, with tests/offline_till.py), read,
repaid and paid out at the window; at most what is owed, once per key, even two at once; another
site sees nothing; the ledger balances after each; and a patient who paid their arrears is no
longer denied in the next offline package."""

from __future__ import annotations

import secrets
import threading
from typing import Any

import pytest
from tests.flows.conftest import Api
from tests.flows.test_offline import (
    LIMITS,
    balance,
    bill,
    cash_now,
    check_ledger,
    enrolled,
    refresh,
    till,
    upload,
    voucher,
)
from tests.offline_till import Till

from facepay.client import StaffSession, TerminalSession
from facepay.demo.scenario import expect
from facepay.demo.world import Site
from facepay.ledger.accounts import AccountKind


@pytest.fixture(scope="module", autouse=True)
def limits(site_a: Site) -> None:
    """Site A allows offline payments up to 10,000 yuan."""
    expect(site_a.admin.request("PUT", "/v1/offline-limits", LIMITS), 200)


def owing(api: Api, site: Site) -> tuple[dict[str, Any], Till, TerminalSession, int, int]:
    """A patient with arrears (the window spent their account while a kiosk was offline) and a
    refund due (a kiosk collected 700 fen too much): (person, till, kiosk, arrears, due)."""
    person = enrolled(api, site)
    offline_bill, drain, small = (bill(site, person, f) for f in (60_000, 400_000, 20_000))
    own, kiosk = till(site)
    cash = cash_now(site, offline_bill)
    site.pay_by_card(drain, person=person)
    (owed,) = upload(kiosk, voucher(own, person, offline_bill, cash))
    (due,) = upload(kiosk, voucher(own, person, small, cash_now(site, small) + 700))
    assert owed["difference"]["kind"] == "arrears"
    assert due["difference"] == {"kind": "refund_due", "amount_fen": 700}
    arrears = int(owed["difference"]["amount_fen"])
    assert arrears > 1
    return person, own, kiosk, arrears, 700


def repay(
    who: StaffSession, person: dict[str, Any], fen: int, key: str, method: str = "cash"
) -> Any:
    return who.request(
        "POST", f"/v1/patients/{person['person_id']}/arrears/repayments",
        {"amount_fen": fen, "method": method}, headers={"Idempotency-Key": key},
    )  # fmt: skip


def pay_out(who: StaffSession, person: dict[str, Any], fen: int, key: str) -> Any:
    return who.request(
        "POST", f"/v1/patients/{person['person_id']}/refunds-due/payouts",
        {"amount_fen": fen, "method": "cash"}, headers={"Idempotency-Key": key},
    )  # fmt: skip


def balances_of(who: StaffSession, person: dict[str, Any]) -> Any:
    return who.request("GET", f"/v1/patients/{person['person_id']}/balances")


def key() -> str:
    return f"win-{secrets.token_hex(8)}"


def test_read_repay_part_then_the_rest_and_offline_again(api: Api, site_a: Site) -> None:
    person, own, kiosk, arrears, due = owing(api, site_a)
    read = expect(balances_of(site_a.auditor, person), 200)
    assert (read["arrears_fen"], read["repayable_fen"], read["refund_due_fen"]) == (
        arrears, arrears, due,
    )  # fmt: skip
    assert [v["difference"]["kind"] for v in read["vouchers"]] == ["refund_due", "arrears"]
    assert {v["terminal_id"] for v in read["vouchers"]} == {own.terminal_id}
    bill(site_a, person, 10_000)  # an open bill: the site needs them offline
    refresh(own, kiosk)
    assert person["person_id"] in own.limits["deny"]
    part = expect(repay(site_a.cashier, person, arrears - 1, key()), 201)
    assert (part["remaining_fen"], part["replayed"], part["direction"]) == (1, False, "repayment")
    rest = expect(repay(site_a.admin, person, 1, key(), method="bank"), 201)
    assert (rest["remaining_fen"], rest["method"]) == (0, "bank")
    assert balance(api, AccountKind.ARREARS, person["person_id"]) == 0
    paid = expect(pay_out(site_a.cashier, person, due, key()), 201)
    assert (paid["direction"], paid["remaining_fen"]) == ("payout", 0)
    assert balance(api, AccountKind.REFUND_DUE, person["person_id"]) == 0
    after = expect(balances_of(site_a.cashier, person), 200)
    assert (after["arrears_fen"], after["refund_due_fen"]) == (0, 0)
    check_ledger(api, site_a, own)
    refresh(own, kiosk)
    assert person["person_id"] not in own.limits["deny"]
    assert person["person_id"] in {p["person_id"] for p in own.library["persons"]}


def test_overpay_replay_and_another_body(api: Api, site_a: Site) -> None:
    person, own, _, arrears, due = owing(api, site_a)
    over = repay(site_a.cashier, person, arrears + 1, key())
    assert (over.status_code, over.json()["code"]) == (409, "arrears_exceeded")
    too_much = pay_out(site_a.cashier, person, due + 1, key())
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_due_exceeded")
    once = key()
    first = expect(repay(site_a.cashier, person, arrears, once), 201)
    again = expect(repay(site_a.cashier, person, arrears, once), 201)
    assert again["replayed"]
    assert {**again, "replayed": False} == first
    clash = repay(site_a.cashier, person, arrears - 1, once)
    assert (clash.status_code, clash.json()["code"]) == (409, "idempotency_conflict")
    assert repay(site_a.cashier, person, 1, key(), method="card").status_code == 422
    assert repay(site_a.cashier, person, 0, key()).status_code == 422
    no_key = site_a.cashier.request(
        "POST", f"/v1/patients/{person['person_id']}/arrears/repayments",
        {"amount_fen": 1, "method": "cash"},
    )  # fmt: skip
    assert no_key.status_code in {400, 422, 428}
    assert balance(api, AccountKind.ARREARS, person["person_id"]) == 0
    check_ledger(api, site_a, own)


def test_two_repayments_at_once_never_take_more_than_owed(api: Api, site_a: Site) -> None:
    person, own, _, arrears, _ = owing(api, site_a)
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def take() -> None:
        barrier.wait()
        answers.append(repay(site_a.cashier, person, arrears, key()))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    # The loser waits for the winner's lock and is refused (409); on SQLite it may instead
    # give up waiting (503, storage_busy): either way it took nothing.
    assert codes[0] == 201, [a.json() for a in answers]
    assert codes[1] in {409, 503}
    if codes[1] == 409:
        assert next(a for a in answers if a.status_code == 409).json()["code"] == "arrears_exceeded"
    assert balance(api, AccountKind.ARREARS, person["person_id"]) == 0
    check_ledger(api, site_a, own)


def test_roles_and_another_site(api: Api, site_a: Site, site_b: Site) -> None:
    person, _, _, arrears, due = owing(api, site_a)
    for who in (site_b.cashier, site_b.admin):
        assert repay(who, person, 1, key()).status_code == 404
        assert pay_out(who, person, 1, key()).status_code == 404
    assert balances_of(site_b.auditor, person).status_code == 404
    assert repay(site_a.auditor, person, 1, key()).status_code == 403
    assert pay_out(site_a.auditor, person, 1, key()).status_code == 403
    assert site_a.kiosk.request(
        "GET", f"/v1/patients/{person['person_id']}/balances"
    ).status_code in {401, 403}
    assert balances_of(api.operator, person).status_code == 403
    read = expect(balances_of(site_a.admin, person), 200)
    assert (read["arrears_fen"], read["refund_due_fen"]) == (arrears, due)
