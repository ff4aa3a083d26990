"""Migration 0008 (terminal kinds as a column) on a database the previous version filled: the
`kind:` prefix of each name moves into `terminals.kind`, a name without a known prefix becomes a
kiosk's (it had a kiosk's rights), and the downgrade puts the prefixes back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.migrate import downgrade, upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OLD_NAMES = {
    "t_kiosk": "kiosk:lobby",
    "t_window": "window:desk 3",
    "t_his": "his:his-1",
    "t_plain": "front door",  # registered outside the API: no prefix
    "t_odd": "cashier:desk",  # a colon, but not a kind
    "t_empty": "his:",  # a prefix and nothing after it: kept whole
}


def _terminals(engine: Engine) -> dict[str, tuple[str, ...]]:
    """id -> (name, kind), or (name,) before the upgrade."""
    with engine.connect() as conn:
        has_kind = "kind" in {c["name"] for c in inspect(conn).get_columns("terminals")}
        query = (
            "SELECT id, name, kind FROM terminals" if has_kind else "SELECT id, name FROM terminals"
        )
        rows = conn.execute(text(query)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_name_prefixes_become_kinds_and_come_back(engine: Engine) -> None:
    downgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO hospitals (id, name, created_at) VALUES ('h', 'H', :t)"),
                     {"t": NOW})  # fmt: skip
        for terminal_id, name in OLD_NAMES.items():
            conn.execute(
                text(
                    "INSERT INTO terminals (id, hospital_id, name, public_key, active, created_at)"
                    " VALUES (:id, 'h', :name, :key, true, :t)"
                ),
                {"id": terminal_id, "name": name, "key": bytes(32), "t": NOW},
            )

    upgrade(engine)

    assert _terminals(engine) == {
        "t_kiosk": ("lobby", "kiosk"),
        "t_window": ("desk 3", "window"),
        "t_his": ("his-1", "his"),
        "t_plain": ("front door", "kiosk"),
        "t_odd": ("cashier:desk", "kiosk"),
        "t_empty": ("his:", "kiosk"),
    }
    with SqlAlchemyUnitOfWork(engine) as uow:
        his = uow.tenants.terminal("t_his")
    assert his is not None
    assert (his.kind, his.name) == ("his", "his-1")

    downgrade(engine, "0007")
    names = {terminal_id: row[0] for terminal_id, row in _terminals(engine).items()}
    assert names["t_kiosk"] == "kiosk:lobby"
    assert names["t_his"] == "his:his-1"
    assert names["t_plain"] == "kiosk:front door"  # what its rights were, now spelled out
    upgrade(engine)
    assert _terminals(engine)["t_plain"] == ("front door", "kiosk")


def test_the_database_refuses_an_unknown_kind(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO hospitals (id, name, created_at) VALUES ('h', 'H', :t)"),
                     {"t": NOW})  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO terminals (id, hospital_id, name, public_key, active, created_at,"
                " kind) VALUES ('t', 'h', 'x', :key, true, :t, 'printer')"
            ),
            {"key": bytes(32), "t": NOW},
        )
