"""Random sequences of ledger operations keep TigerBeetle's invariants (a state machine)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from facepay.ledger.accounts import Account, AccountFlags, AccountKind
from facepay.ledger.corrections import expire_holds, reverse
from facepay.ledger.memory import InMemoryLedgerRepository
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, PostingResult, TransferKind, TransferSpec
from facepay.shared.errors import FacepayError

OWNERS = [
    (AccountKind.FUND_POOL, "acct"),
    (AccountKind.PERSONAL_ACCOUNT, "p1"),
    (AccountKind.PATIENT_WALLET, "p1"),
    (AccountKind.HOSPITAL_REVENUE, "h"),
    (AccountKind.ARREARS, "p1"),
]
ACCOUNTS = [Account.open(kind, owner).id for kind, owner in OWNERS]
KEYS = st.sampled_from([f"k{i}" for i in range(8)])
AMOUNTS = st.integers(min_value=1, max_value=5_000)
PAIRS = st.permutations(ACCOUNTS).map(lambda p: (p[0], p[1]))


class LedgerMachine(RuleBasedStateMachine):
    """Drives the ledger with transfers, holds, posts, voids, expiries and reversals."""

    holds = Bundle("holds")
    applied = Bundle("applied")

    def __init__(self) -> None:
        super().__init__()
        self.repo = InMemoryLedgerRepository()
        for kind, owner in OWNERS:
            self.repo.add_account(Account.open(kind, owner))
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.results: dict[str, PostingResult] = {}

    def _post(self, request: PostingRequest) -> PostingResult | None:
        before = self._snapshot()
        known = self.results.get(request.key)
        try:
            result = post(repo=self.repo, request=request, now=self.now)
        except FacepayError:
            assert self._snapshot() == before, "a refused request changed the ledger"
            return None
        return self._check_result(request.key, known, result)

    def _check_result(
        self, key: str, known: PostingResult | None, result: PostingResult
    ) -> PostingResult:
        if known is not None:
            assert result.replayed
            assert result.transfers == known.transfers
        else:
            assert not result.replayed
            self.results[key] = result
        return result

    def _snapshot(self) -> tuple[object, ...]:
        return (
            tuple(sorted((a.id, repr(a)) for a in self.repo.accounts.values())),
            len(self.repo.transfers),
            len(self.repo.records),
        )

    @rule(target=applied, key=KEYS, pair=PAIRS, amount=AMOUNTS)
    def transfer(self, key: str, pair: tuple[str, str], amount: int) -> str:
        self._post(PostingRequest(key, (TransferSpec.transfer(*pair, amount, "t"),)))
        return key

    @rule(
        target=applied, key=KEYS, pairs=st.lists(st.tuples(PAIRS, AMOUNTS), min_size=2, max_size=4)
    )
    def linked(self, key: str, pairs: list[tuple[tuple[str, str], int]]) -> str:
        specs = tuple(TransferSpec.transfer(*pair, amount, "b") for pair, amount in pairs)
        self._post(PostingRequest(key, specs))
        return key

    @rule(target=holds, key=KEYS, pair=PAIRS, amount=AMOUNTS, timeout=st.sampled_from([None, 60]))
    def hold(self, key: str, pair: tuple[str, str], amount: int, timeout: int | None) -> str:
        spec = TransferSpec.hold(*pair, amount, "hold", timeout_seconds=timeout)
        result = self._post(PostingRequest(key, (spec,)))
        return result.transfers[0].id if result else "missing"

    @rule(hold=holds, key=KEYS, part=st.integers(min_value=0, max_value=5_000))
    def post_hold(self, hold: str, key: str, part: int) -> None:
        self._post(PostingRequest(key, (TransferSpec.post(hold, "post", part or None),)))

    @rule(hold=holds, key=KEYS)
    def void_hold(self, hold: str, key: str) -> None:
        self._post(PostingRequest(key, (TransferSpec.void(hold, "void"),)))

    @rule(seconds=st.sampled_from([1, 30, 61]))
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def expire(self) -> None:
        expire_holds(repo=self.repo, now=self.now)
        assert expire_holds(repo=self.repo, now=self.now) == []

    @rule(original=consumes(applied), key=KEYS)
    def reverse_request(self, original: str, key: str) -> None:
        before = self._snapshot()
        known = self.results.get(key)
        try:
            result = reverse(repo=self.repo, original_key=original, key=key, now=self.now)
        except FacepayError:
            assert self._snapshot() == before
            return
        self._check_result(key, known, result)

    @invariant()
    def debits_equal_credits(self) -> None:
        accounts = self.repo.accounts.values()
        assert sum(a.debits_posted for a in accounts) == sum(a.credits_posted for a in accounts)
        assert sum(a.debits_pending for a in accounts) == sum(a.credits_pending for a in accounts)

    @invariant()
    def bounded_accounts_stay_bounded(self) -> None:
        for a in self.repo.accounts.values():
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in a.flags:
                assert a.debits_posted + a.debits_pending <= a.credits_posted
            if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in a.flags:
                assert a.credits_posted + a.credits_pending <= a.debits_posted

    @invariant()
    def each_key_applied_once(self) -> None:
        per_key = Counter(t.request_key for t in self.repo.transfers.values())
        assert set(per_key) == set(self.repo.records)
        for key, result in self.results.items():
            assert per_key[key] == len(result.transfers)

    @invariant()
    def each_hold_resolved_at_most_once(self) -> None:
        resolutions = Counter(
            t.pending_id for t in self.repo.transfers.values() if t.pending_id is not None
        )
        assert all(count == 1 for count in resolutions.values())
        reversals = Counter(t.reverses_id for t in self.repo.transfers.values() if t.reverses_id)
        assert all(count == 1 for count in reversals.values())

    @invariant()
    def totals_match_the_transfers(self) -> None:
        """Account totals are exactly what the stored transfers add up to."""
        expected = {i: [0, 0, 0, 0] for i in self.repo.accounts}
        holds = {t.id: t for t in self.repo.transfers.values() if t.kind is TransferKind.PENDING}
        resolved = {t.pending_id for t in self.repo.transfers.values() if t.pending_id}
        for t in self.repo.transfers.values():
            if t.kind in (TransferKind.SINGLE, TransferKind.POST_PENDING):
                expected[t.debit_account_id][0] += t.amount
                expected[t.credit_account_id][1] += t.amount
        for hold_id, t in holds.items():
            if hold_id not in resolved:
                expected[t.debit_account_id][2] += t.amount
                expected[t.credit_account_id][3] += t.amount
        for a in self.repo.accounts.values():
            totals = [a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending]
            assert totals == expected[a.id]


LedgerMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    # Draws are cheap; only a loaded CI machine makes them look slow.
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
