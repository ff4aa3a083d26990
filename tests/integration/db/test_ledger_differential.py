"""The SQL ledger repository behaves exactly like the in-memory reference: random operation
sequences give the same outcomes and the same account totals on SQLite, PostgreSQL and memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.corrections import expire_holds, reverse
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.ledger import open_person_accounts
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.shared.errors import FacepayError

ACCOUNTS = [
    account_id(AccountKind.FUND_POOL, "acct"),
    account_id(AccountKind.PERSONAL_ACCOUNT, "p1"),
    account_id(AccountKind.PATIENT_WALLET, "p1"),
    account_id(AccountKind.ARREARS, "p1"),
    account_id(AccountKind.HOSPITAL_REVENUE, "hospital"),
]
PAIRS = st.permutations(ACCOUNTS).map(lambda p: (p[0], p[1]))
KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
AMOUNTS = st.integers(min_value=1, max_value=3_000)
OPS = st.one_of(
    st.tuples(st.just("transfer"), KEYS, PAIRS, AMOUNTS),
    st.tuples(st.just("hold"), KEYS, PAIRS, AMOUNTS, st.sampled_from([None, 60])),
    st.tuples(st.just("post"), KEYS, st.integers(0, 5), st.integers(0, 3_000)),
    st.tuples(st.just("void"), KEYS, st.integers(0, 5)),
    st.tuples(st.just("reverse"), KEYS, KEYS),
    st.tuples(st.just("tick_and_expire"), st.sampled_from([30, 61])),
)


def _apply(uow, op: tuple, holds: list[str], now: datetime) -> str:
    """Run one operation in its own transaction; return its outcome as text."""
    kind, *args = op
    try:
        with uow:
            if kind == "tick_and_expire":
                result = f"expired {len(expire_holds(repo=uow.ledger, now=now))}"
            elif kind == "reverse":
                original, key = args
                result = reverse(repo=uow.ledger, original_key=original, key=f"r{key}", now=now)
            else:
                result = post(repo=uow.ledger, request=_request(kind, args, holds), now=now)
            uow.commit()
    except FacepayError as error:
        return type(error).__name__
    if isinstance(result, str):
        return result
    if kind == "hold" and not result.replayed:
        holds.append(result.transfers[0].id)
    shape = [(t.kind, t.debit_account_id, t.credit_account_id, t.amount) for t in result.transfers]
    return f"{'replayed' if result.replayed else 'posted'} {shape}"


def _request(kind: str, args: list, holds: list[str]) -> PostingRequest:
    key = args[0]
    if kind == "transfer":
        return PostingRequest(key, (TransferSpec.transfer(*args[1], args[2], "t"),))
    if kind == "hold":
        spec = TransferSpec.hold(*args[1], args[2], "h", timeout_seconds=args[3])
        return PostingRequest(key, (spec,))
    hold = holds[args[1]] if args[1] < len(holds) else "tr_missing"
    if kind == "post":
        return PostingRequest(key, (TransferSpec.post(hold, "p", args[2] or None),))
    return PostingRequest(key, (TransferSpec.void(hold, "v"),))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=12))
def test_sql_ledger_matches_the_in_memory_reference(fresh_database, ops) -> None:
    url, reset = fresh_database
    reset()
    engine = database_engine(url)
    try:
        open_person_accounts(uow=SqlAlchemyUnitOfWork(engine), person_id="p1")
        store = InMemoryStore()
        with SqlAlchemyUnitOfWork(engine) as uow:
            for account in uow.ledger.lock_accounts(ACCOUNTS).values():
                store.ledger.add_account(account)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        sql_holds: list[str] = []
        memory_holds: list[str] = []
        for op in ops:
            if op[0] == "tick_and_expire":
                now += timedelta(seconds=op[1])
            sql = _apply(SqlAlchemyUnitOfWork(engine), op, sql_holds, now)
            memory = _apply(InMemoryUnitOfWork(store), op, memory_holds, now)
            assert sql == memory, op
            with SqlAlchemyUnitOfWork(engine) as uow:
                assert uow.ledger.lock_accounts(ACCOUNTS) == {
                    i: store.ledger.accounts[i] for i in ACCOUNTS
                }
    finally:
        engine.dispose()
