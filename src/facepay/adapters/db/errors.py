"""Database errors as facepay errors a client can act on.

- `StorageBusy` (503, retry at once with the same idempotency key): a lock wait ran out, a
  deadlock or serialization failure, a race lost on a unique key, the pool had no connection.
- `StorageUnavailable` (503, Retry-After 5 s): the database cannot serve at all - its disk is
  full, it is down, refusing or dropping connections, out of memory, read-only, or its file
  cannot be opened or written.

Anything else stays as it is (a bug: a 500 with the traceback in the log). The drivers' own
exceptions are recognised too, for the few calls made on the raw connection.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from facepay.services.ports import StorageBusy, StorageUnavailable

# PostgreSQL SQLSTATEs that mean "try again": serialization failure, deadlock, lock timeout,
# statement timeout.
_BUSY_STATES = {"40001", "40P01", "55P03", "57014"}
# Connection exceptions (08), insufficient resources (53: disk full, out of memory, too many
# connections), operator intervention (57P01-57P05: shutdown, cannot connect now), system
# errors (58: I/O), and a read-only transaction (25006: a standby or a full-disk guard).
_UNAVAILABLE_STATE_CLASSES = ("08", "53", "58", "57P")
_UNAVAILABLE_STATES = {"25006"}
# SQLite primary result codes: busy and locked; full, I/O error, cannot open, read-only, no
# memory, not a database, protocol error (the WAL index could not be mapped).
_SQLITE_BUSY = {5, 6}
_SQLITE_UNAVAILABLE = {7, 8, 10, 13, 14, 15, 26}
# The same faults as SQLite words them: a statement run inside another (a savepoint) reports
# them with the generic code 1.
_SQLITE_UNAVAILABLE_TEXT = (
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "readonly database",
    "out of memory",
    "file is not a database",
)
DRIVER_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error)
"""What a database call can raise."""


def translate(error: BaseException) -> BaseException:
    """The facepay error that `error` means, or `error` itself. The errors it was raised while
    handling count too: after a full disk SQLite rolls the whole transaction back, and the
    savepoint release that follows fails with a bare `no such savepoint`."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            break
        found = _translate_one(seen)
        if found is not seen:
            return found
        seen = seen.__cause__ or seen.__context__
    return error


def _translate_one(error: BaseException) -> BaseException:
    if isinstance(error, PoolTimeout):
        return StorageBusy("no database connection was free in time; retry")
    driver = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(driver, sqlite3.Error):
        return _sqlite(error, driver)
    if isinstance(driver, psycopg.Error):
        return _postgres(error, driver)
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return StorageUnavailable("the connection to the database was lost; retry later")
    return error


def _sqlite(error: BaseException, driver: sqlite3.Error) -> BaseException:
    code = getattr(driver, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(driver).lower()
    if primary in _SQLITE_BUSY or "database is locked" in text:
        return StorageBusy("the database is busy; retry with the same idempotency key")
    if primary in _SQLITE_UNAVAILABLE or any(words in text for words in _SQLITE_UNAVAILABLE_TEXT):
        return StorageUnavailable(f"the database cannot store this now ({text}); retry later")
    if isinstance(error, IntegrityError) and "unique constraint" in text:
        return _lost_race()
    return error


def _postgres(error: BaseException, driver: psycopg.Error) -> BaseException:
    state = driver.sqlstate
    if state in _BUSY_STATES:
        return StorageBusy("the database is busy; retry with the same idempotency key")
    if state is None and isinstance(driver, psycopg.OperationalError):
        # No SQLSTATE: the server could not be reached or the connection broke.
        return StorageUnavailable("the database does not answer; retry later")
    if state is not None and (
        state in _UNAVAILABLE_STATES or state.startswith(_UNAVAILABLE_STATE_CLASSES)
    ):
        return StorageUnavailable("the database cannot serve this now; retry later")
    if isinstance(error, IntegrityError) and state == "23505":
        return _lost_race()
    return error


def _lost_race() -> StorageBusy:
    return StorageBusy("a concurrent request with the same key won; retry to replay it")
