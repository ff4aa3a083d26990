"""Database errors as facepay errors: busy (retry now) or unavailable (retry later), else as is."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg.errors import lookup
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from facepay.adapters.db.errors import translate
from facepay.services.ports import StorageBusy, StorageUnavailable


def _sqlite(message: str, code: int) -> OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return OperationalError("stmt", {}, error)


def _pg(state: str | None) -> OperationalError:
    driver = psycopg.OperationalError("refused") if state is None else lookup(state)("pg")
    return OperationalError("stmt", {}, driver)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_sqlite("database or disk is full", 13), StorageUnavailable),
        (_sqlite("disk I/O error", 10 | (3 << 8)), StorageUnavailable),
        (_sqlite("unable to open database file", 14), StorageUnavailable),
        (_sqlite("attempt to write a readonly database", 8), StorageUnavailable),
        (_sqlite("database is locked", 5), StorageBusy),
        (_pg(None), StorageUnavailable),
        (_pg("53100"), StorageUnavailable),
        (_pg("08006"), StorageUnavailable),
        (_pg("57P01"), StorageUnavailable),
        (_pg("40P01"), StorageBusy),
        (PoolTimeout("pool"), StorageBusy),
    ],
)
def test_storage_faults_are_recognised(error: Exception, kind: type) -> None:
    assert isinstance(translate(error), kind)


def test_other_errors_stay_as_they_are() -> None:
    error = _sqlite("no such table: x", 1)
    assert translate(error) is error


def test_the_error_behind_a_failed_savepoint_release_counts() -> None:
    masked = _sqlite("no such savepoint: sa_savepoint_1", 1)
    masked.__context__ = _sqlite("database or disk is full", 13)
    assert isinstance(translate(masked), StorageUnavailable)
