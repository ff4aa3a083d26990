"""The migrations build exactly the schema in tables.py, and go down and up again cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from facepay.adapters.db.migrate import downgrade, upgrade
from facepay.adapters.db.tables import metadata
from facepay.bootstrap import build_engine, build_unit_of_work
from facepay.config import Settings


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_system_accounts_are_seeded(engine: Engine) -> None:
    with engine.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM accounts")).scalars())
    assert {"fund_pool:hifp", "hospital_receivable:maf", "hospital_revenue:hospital"} <= ids


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    assert {"accounts", "transfers", "settlements"} <= set(inspect(engine).get_table_names())


def test_bootstrap_builds_a_migrated_embedded_database(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = build_engine(settings)
    try:
        assert settings.sqlite_path.exists()
        with build_unit_of_work(settings, engine)() as uow:
            assert "fund_pool:hifp" in uow.ledger.lock_accounts(["fund_pool:hifp"])
            assert uow.accumulators.lock("nobody", 2026).burden == 0
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        engine.dispose()
