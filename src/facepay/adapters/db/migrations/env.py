"""Alembic environment: online only, on the engine that `facepay.adapters.db.migrate` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from facepay.adapters.db.tables import metadata

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    driver = connection.connection.driver_connection
    assert driver is not None
    if sqlite:
        # Batch mode rebuilds a table to alter it on SQLite (copy, drop, rename), which a table
        # other tables refer to cannot survive with foreign keys on; SQLite's own procedure for
        # schema changes: turn them off outside the transaction, check them all before commit.
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            # Batch mode lets later migrations alter tables on SQLite too (it rebuilds them).
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            driver.execute("PRAGMA foreign_keys=ON")
