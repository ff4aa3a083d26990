"""Worked examples of the ledger rules, on the in-memory repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from facepay.ledger.accounts import Account, AccountKind, account_id
from facepay.ledger.corrections import expire_holds, reverse
from facepay.ledger.memory import InMemoryLedgerRepository
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.shared.errors import Conflict, InsufficientFunds, InvalidInput, NotFound

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POOL = account_id(AccountKind.FUND_POOL, "acct")
WALLET = account_id(AccountKind.PERSONAL_ACCOUNT, "pat_1")
HOSPITAL = account_id(AccountKind.HOSPITAL_REVENUE, "hospital")
ARREARS = account_id(AccountKind.ARREARS, "pat_1")
CASH = account_id(AccountKind.CASH_CLEARING, "cash")


@pytest.fixture
def repo() -> InMemoryLedgerRepository:
    repo = InMemoryLedgerRepository()
    for kind, owner in [
        (AccountKind.FUND_POOL, "acct"),
        (AccountKind.PERSONAL_ACCOUNT, "pat_1"),
        (AccountKind.HOSPITAL_REVENUE, "hospital"),
        (AccountKind.ARREARS, "pat_1"),
        (AccountKind.CASH_CLEARING, "cash"),
    ]:
        repo.add_account(Account.open(kind, owner))
    post(repo=repo, request=_one("fund", POOL, WALLET, 10_000), now=NOW)
    return repo


def _one(key: str, debit: str, credit: str, amount: int) -> PostingRequest:
    return PostingRequest(key, (TransferSpec.transfer(debit, credit, amount, "test"),))


def _balances(repo: InMemoryLedgerRepository) -> dict[str, tuple[int, int, int, int]]:
    return {
        a.id: (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
        for a in repo.accounts.values()
    }


def test_a_transfer_moves_money_on_both_sides(repo: InMemoryLedgerRepository) -> None:
    post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 2_500), now=NOW)
    assert repo.accounts[WALLET].balance == 7_500
    assert repo.accounts[HOSPITAL].balance == 2_500
    assert repo.accounts[POOL].balance == -10_000


def test_a_bounded_account_cannot_be_overdrawn_and_nothing_is_stored(
    repo: InMemoryLedgerRepository,
) -> None:
    before = _balances(repo)
    with pytest.raises(InsufficientFunds):
        post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 10_001), now=NOW)
    assert _balances(repo) == before
    assert repo.get_record("pay") is None


def test_a_linked_batch_posts_all_or_nothing(repo: InMemoryLedgerRepository) -> None:
    request = PostingRequest(
        "settle",
        (
            TransferSpec.transfer(CASH, HOSPITAL, 500, "cash"),
            TransferSpec.transfer(WALLET, HOSPITAL, 20_000, "acct"),
        ),
    )
    with pytest.raises(InsufficientFunds):
        post(repo=repo, request=request, now=NOW)
    assert repo.accounts[HOSPITAL].balance == 0
    assert repo.transfers_of("settle") == []


def test_a_later_credit_in_the_batch_does_not_cover_an_earlier_overdraft(
    repo: InMemoryLedgerRepository,
) -> None:
    request = PostingRequest(
        "k",
        (
            TransferSpec.transfer(WALLET, HOSPITAL, 15_000, "spend"),
            TransferSpec.transfer(POOL, WALLET, 5_000, "top-up"),
        ),
    )
    with pytest.raises(InsufficientFunds):
        post(repo=repo, request=request, now=NOW)


def test_same_key_same_body_replays_and_different_body_conflicts(
    repo: InMemoryLedgerRepository,
) -> None:
    first = post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 100), now=NOW)
    again = post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 100), now=NOW)
    assert again.replayed
    assert again.transfers == first.transfers
    assert repo.accounts[WALLET].balance == 9_900
    with pytest.raises(Conflict):
        post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 101), now=NOW)


@pytest.mark.parametrize(
    "spec",
    [
        TransferSpec.transfer(WALLET, HOSPITAL, 0, "zero"),
        TransferSpec.transfer(WALLET, WALLET, 1, "self"),
        TransferSpec.transfer(WALLET, HOSPITAL, -5, "negative"),
        TransferSpec.transfer(WALLET, HOSPITAL, 1, ""),
        TransferSpec.post("", "no pending id"),
        TransferSpec.transfer(WALLET, HOSPITAL, 10**15 + 1, "too much"),
        TransferSpec.transfer(WALLET, HOSPITAL, 1, "x" * 81),
    ],
)
def test_malformed_transfers_are_refused(
    repo: InMemoryLedgerRepository, spec: TransferSpec
) -> None:
    with pytest.raises((InvalidInput, NotFound)):
        post(repo=repo, request=PostingRequest("bad", (spec,)), now=NOW)
    assert repo.get_record("bad") is None


def test_unknown_account_is_not_found(repo: InMemoryLedgerRepository) -> None:
    with pytest.raises(NotFound):
        post(repo=repo, request=_one("x", WALLET, "hospital_revenue:nope", 1), now=NOW)


def test_a_hold_reserves_then_posts_a_smaller_amount(repo: InMemoryLedgerRepository) -> None:
    hold = TransferSpec.hold(WALLET, HOSPITAL, 6_000, "deposit", timeout_seconds=3600)
    (pending,) = post(repo=repo, request=PostingRequest("h", (hold,)), now=NOW).transfers
    assert repo.accounts[WALLET].available == 4_000
    with pytest.raises(InsufficientFunds):
        post(repo=repo, request=_one("spend", WALLET, HOSPITAL, 4_001), now=NOW)
    post(
        repo=repo,
        request=PostingRequest("p", (TransferSpec.post(pending.id, "dis", 4_500),)),
        now=NOW,
    )
    assert repo.accounts[WALLET].balance == 5_500
    assert repo.accounts[WALLET].debits_pending == 0
    with pytest.raises(Conflict):
        post(repo=repo, request=PostingRequest("v", (TransferSpec.void(pending.id, "v"),)), now=NOW)


def test_a_hold_cannot_post_more_than_it_reserved(repo: InMemoryLedgerRepository) -> None:
    hold = TransferSpec.hold(WALLET, HOSPITAL, 1_000, "deposit", timeout_seconds=None)
    (pending,) = post(repo=repo, request=PostingRequest("h", (hold,)), now=NOW).transfers
    with pytest.raises(InvalidInput):
        post(
            repo=repo,
            request=PostingRequest("p", (TransferSpec.post(pending.id, "x", 1_001),)),
            now=NOW,
        )


def test_an_expired_hold_voids_and_cannot_be_posted(repo: InMemoryLedgerRepository) -> None:
    hold = TransferSpec.hold(WALLET, HOSPITAL, 3_000, "preauth", timeout_seconds=60)
    (pending,) = post(repo=repo, request=PostingRequest("h", (hold,)), now=NOW).transfers
    later = NOW + timedelta(seconds=60)
    with pytest.raises(Conflict):
        post(
            repo=repo, request=PostingRequest("p", (TransferSpec.post(pending.id, "x"),)), now=later
        )
    assert [r.transfers[0].pending_id for r in expire_holds(repo=repo, now=later)] == [pending.id]
    assert expire_holds(repo=repo, now=later) == []
    assert repo.accounts[WALLET].available == 10_000


def test_a_reversal_restores_balances_once(repo: InMemoryLedgerRepository) -> None:
    before = {a.id: a.balance for a in repo.accounts.values()}
    request = PostingRequest(
        "settle",
        (
            TransferSpec.transfer(WALLET, HOSPITAL, 4_000, "acct"),
            TransferSpec.transfer(CASH, HOSPITAL, 700, "cash"),
        ),
    )
    post(repo=repo, request=request, now=NOW)
    result = reverse(repo=repo, original_key="settle", key="refund", now=NOW)
    assert {a.id: a.balance for a in repo.accounts.values()} == before
    assert reverse(repo=repo, original_key="settle", key="refund", now=NOW).transfers == (
        result.transfers
    )
    with pytest.raises(Conflict):
        reverse(repo=repo, original_key="settle", key="refund-2", now=NOW)


def test_arrears_cannot_be_repaid_beyond_what_is_owed(repo: InMemoryLedgerRepository) -> None:
    post(repo=repo, request=_one("owe", ARREARS, HOSPITAL, 300), now=NOW)
    with pytest.raises(InsufficientFunds):
        post(repo=repo, request=_one("repay", CASH, ARREARS, 301), now=NOW)
    post(repo=repo, request=_one("repay", CASH, ARREARS, 300), now=NOW)
    assert repo.accounts[ARREARS].balance == 0


@pytest.mark.parametrize("owner", ["", "x" * 81, "line\nbreak"])
def test_account_owners_are_short_printable_names(owner: str) -> None:
    with pytest.raises(InvalidInput):
        Account.open(AccountKind.PATIENT_WALLET, owner)


def test_a_reversal_can_itself_be_reversed(repo: InMemoryLedgerRepository) -> None:
    post(repo=repo, request=_one("pay", WALLET, HOSPITAL, 1_000), now=NOW)
    key = "pay"
    for n in range(12):  # codes grow with each "reversal:" prefix, but are kept in bounds
        reverse(repo=repo, original_key=key, key=f"undo{n}", now=NOW)
        key = f"undo{n}"
    assert repo.accounts[WALLET].balance == 9_000
