"""Database fixtures (shared by tests/integration/db and tests/integration/services): every
test using them runs once on SQLite (a WAL file in tmp_path) and once on
PostgreSQL, on the session's one server (`postgres_server_url` in tests/conftest.py). There is no
skipping: if the server cannot start, the PostgreSQL tests fail.

Isolation without paying for migrations per test: SQLite is migrated once into a template file
that each test copies; PostgreSQL is migrated once into a session database that each test
truncates and re-seeds first (30 ms, where CREATE DATABASE from a template took about a second).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, insert, select, text

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.tables import accounts, metadata, regions
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import load_bill, load_policy, parse_bill, shipped_policy_files
from facepay.insurance.model import Bill
from facepay.insurance.policy import Policy
from facepay.ledger.accounts import hospital_chart
from facepay.services.ledger import credit_personal_account, open_accounts, open_person_accounts

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
BOOKS = "h1"
"""The hospital whose books the ledger tests settle into (its accounts are in every database)."""
SEEDED = (regions, accounts)
"""The tables whose migrated rows every test starts with (the default region, the chart)."""


def _open_books(engine: Engine) -> None:
    open_accounts(uow=SqlAlchemyUnitOfWork(engine), accounts=hospital_chart(BOOKS))


@pytest.fixture(scope="session")
def postgres_database(
    create_postgres_database: Callable[[str], str],
) -> tuple[str, dict[Table, list[dict[str, Any]]]]:
    """A database migrated once for the session, and the rows the migrations seeded."""
    url = create_postgres_database("facepay_test_")
    engine = database_engine(url)
    upgrade(engine)
    _open_books(engine)
    with engine.connect() as conn:
        seeded = {
            table: [dict(row) for row in conn.execute(select(table)).mappings()] for table in SEEDED
        }
    engine.dispose()
    return url, seeded


def _reset_postgres(url: str, seeded: dict[Table, list[dict[str, Any]]]) -> None:
    """Empty every table and put the seeded rows back (~30 ms; a new database takes ~1 s)."""
    engine = create_engine(url)
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        for table in SEEDED:
            conn.execute(insert(table), seeded[table])
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision, checkpointed so one file holds it all."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    engine = database_engine(f"sqlite:///{path}")
    upgrade(engine)
    _open_books(engine)
    engine.dispose()
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(params=BACKENDS)
def fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> tuple[str, Callable[[], None]]:
    """A migrated database for this test, and a function that puts it back to that state (for
    hypothesis tests, which need a clean database per example)."""
    if request.param == "sqlite":
        path = tmp_path / "facepay.sqlite"

        def reset() -> None:
            for leftover in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(sqlite_template, path)

        reset()
        return f"sqlite:///{path}", reset
    url, seeded = request.getfixturevalue("postgres_database")
    _reset_postgres(url, seeded)
    return url, lambda: _reset_postgres(url, seeded)


@pytest.fixture
def database_url(fresh_database: tuple[str, Callable[[], None]]) -> str:
    """A migrated database in its freshly migrated state, on each backend in turn."""
    return fresh_database[0]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test's database."""
    engine = database_engine(database_url, pool_size=25)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> SqlAlchemyUnitOfWork:
    """A unit of work (single use per `with`; make more with `SqlAlchemyUnitOfWork(engine)`)."""
    return SqlAlchemyUnitOfWork(engine)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "insurance"


@pytest.fixture(scope="session")
def employee_policy() -> Policy:
    """The shipped urban-employee example policy (INSURANCE.md §3)."""
    return next(p for p in map(load_policy, shipped_policy_files()) if "employee" in p.id)


@pytest.fixture(scope="session")
def example_bill() -> Bill:
    """The worked example of INSURANCE.md §4: 20,000.00 yuan, tier 3, first admission."""
    return load_bill(FIXTURES / "bill-example.json")


class Db:
    """Helpers on the test's database, handed to tests by the `db` fixture."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def uow(self, **options: int) -> SqlAlchemyUnitOfWork:
        """A fresh unit of work."""
        return SqlAlchemyUnitOfWork(self.engine, **options)

    @staticmethod
    def outpatient_bill(fen: int, *, code: str = "C01") -> Bill:
        """An outpatient bill of one class-C line: all of it is the patient's, account first."""
        line = {
            "code": code,
            "name": "self-paid",
            "item_class": "C",
            "unit_price": fen,
            "quantity": "1",
        }
        return parse_bill(
            {
                "visit_type": "outpatient",
                "hospital_tier": 2,
                "service_date": "2026-05-04",
                "lines": [line],
            }
        )

    def open_funded_person(self, person_id: str, fen: int) -> None:
        """Open a person's accounts and allocate `fen` to the personal account."""
        open_person_accounts(uow=self.uow(), person_id=person_id)
        if fen:
            credit_personal_account(
                uow=self.uow(),
                person_id=person_id,
                amount=fen,
                idempotency_key=f"alloc:{person_id}",
            )

    def totals(self) -> dict[str, tuple[int, ...]]:
        """Every account's four exact totals (its row plus what is not rolled up yet)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending"
                    " FROM account_totals"
                )
            )
            return {row[0]: tuple(row[1:]) for row in rows}

    def net(self) -> dict[str, tuple[int, int]]:
        """Every account's (posted, pending) credits minus debits: what a reversal restores."""
        return {i: (t[1] - t[0], t[3] - t[2]) for i, t in self.totals().items()}

    def balance(self, account: str) -> int:
        """One account's posted balance on its normal side."""
        with self.uow() as uow:
            return uow.ledger.lock_accounts([account])[account].balance

    def count(self, table: str) -> int:
        """Rows in a table."""
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def db(engine: Engine) -> Db:
    """Helpers on the test's database."""
    return Db(engine)
