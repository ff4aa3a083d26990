"""Alembic environment: online only, on the engine that `facepay.adapters.db.migrate` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from facepay.adapters.db.tables import metadata

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

with engine.begin() as connection:
    # Batch mode lets later migrations alter tables on SQLite too (it rebuilds them).
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
