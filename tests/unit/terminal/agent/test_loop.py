"""The background loop and the chaos tests' switches: the first round's interval is the fetched
limits', a server gone in a payment is retried within 10 s, the loop survives an error and a full
disk, a write refused by a file-size limit or a quota is a full disk, "sync now", and the
test-only failpoints and clock skew that are refused in production."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.unit.terminal.agent.conftest import Wired, capture_body
from tests.unit.terminal.agent.test_sync import vouchers

from facepay.demo.in_thread import serve_in_thread
from facepay.shared.errors import ConfigurationError
from facepay.terminal.agent.api import create_app
from facepay.terminal.agent.failpoints import PAUSE_AT, Failpoints, failpoints_from
from facepay.terminal.agent.runtime import CLOCK_SKEW, machine_clock
from facepay.terminal.agent.store import StoreFull, _is_full
from facepay.terminal.protocol import OfflineLimits


def test_the_first_round_waits_the_fetched_refresh_interval(wired: Wired) -> None:
    wired.server.limits = OfflineLimits(refresh_seconds=30)
    assert wired.agent.keeper.state.limits is None  # a first start: nothing stored yet
    assert wired.agent.tick(100.0) == 130.0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _until(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_server_gone_in_a_payment_is_tried_again_within_ten_seconds(wired: Wired) -> None:
    wired.server.limits = OfflineLimits(refresh_seconds=90)
    clock, stop = Clock(), threading.Event()
    loop = threading.Thread(target=wired.agent.run, args=(stop, clock))
    loop.start()
    try:
        assert _until(lambda: wired.store.meta("mode") == "online")  # round 1 at 0: next at 90
        wired.server.cut = lambda request: "before"
        assert wired.agent.challenge()["mode"] == "offline"  # the payment finds it gone
        vouchers(wired, 1)
        time.sleep(1.5)  # the loop notices (it wakes at least every second)
        wired.server.cut = lambda request: None
        clock.now = 10.5  # not 90
        assert _until(lambda: wired.store.outbox_counts()["synced"] == 1)
    finally:
        stop.set()
        wired.agent.wake()
        loop.join(timeout=10)


def test_the_loop_survives_an_unexpected_error_and_a_full_disk(wired: Wired) -> None:
    calls: list[int] = []
    refresh = wired.agent.keeper.refresh

    def failing():  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return refresh()

    wired.agent.keeper.refresh = failing  # type: ignore[method-assign]
    clock, stop = Clock(), threading.Event()
    loop = threading.Thread(target=wired.agent.run, args=(stop, clock))
    loop.start()
    try:
        assert _until(lambda: len(calls) == 1)
        clock.now = 11.0
        assert _until(lambda: wired.store.meta("mode") == "online")
    finally:
        stop.set()
        wired.agent.wake()
        loop.join(timeout=10)
    assert loop.is_alive() is False
    # A full disk in a round: the mode cannot be noted, the round still ends with a due time.
    pages = wired.store._db.execute("PRAGMA page_count").fetchone()[0]
    wired.store._db.execute(f"PRAGMA max_page_count = {pages}")
    for size in (3_000, 300, 30):
        with pytest.raises(StoreFull):
            _fill(wired, size)
    wired.server.cut = lambda request: "before"
    assert wired.agent.tick(200.0) == 210.0


def _fill(wired: Wired, size: int) -> None:
    for index in range(1_000):
        wired.store.set_meta(f"filler-{size}-{index}", "x" * size)


def test_a_write_refused_by_a_size_limit_or_a_quota_is_a_full_disk() -> None:
    refused = sqlite3.OperationalError("disk I/O error")
    refused.sqlite_errorcode = 778  # type: ignore[attr-defined] - SQLITE_IOERR_WRITE (EFBIG)
    assert _is_full(refused)
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert not _is_full(locked)
    assert _is_full(OSError(27, "File too large"))


def test_sync_now_through_the_local_api(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    vouchers(wired, 2)
    with serve_in_thread(create_app(wired.agent)) as url, httpx.Client(base_url=url) as client:
        wired.server.cut = lambda request: "before"
        gone = client.post("/sync")
        assert gone.status_code == 503
        assert gone.json()["outbox"]["depth"] == 2
        wired.server.cut = lambda request: None
        done = client.post("/sync")
    assert done.status_code == 200, done.text
    assert done.json()["by_status"] == {"posted": 2}
    assert done.json()["outbox"] == {"depth": 0, "pending": 0, "held": 0, "synced": 2}
    assert capture_body()  # the fixture's capture is untouched by a sync


def test_failpoints_and_clock_skew_are_for_tests_only() -> None:
    assert failpoints_from({}) == Failpoints()
    Failpoints().reach("voucher_written")  # inert unless armed: returns at once
    armed = failpoints_from({PAUSE_AT: "voucher_written", "FACEPAY_ENVIRONMENT": "test"})
    assert armed.armed == {"voucher_written"}
    with pytest.raises(ConfigurationError, match="unknown"):
        failpoints_from({PAUSE_AT: "nowhere", "FACEPAY_ENVIRONMENT": "test"})
    with pytest.raises(ConfigurationError, match="tests only"):
        failpoints_from({PAUSE_AT: "voucher_written", "FACEPAY_ENVIRONMENT": "production"})
    assert machine_clock({}) is time.time
    skewed = machine_clock({CLOCK_SKEW: "-600", "FACEPAY_ENVIRONMENT": "test"})
    assert abs(skewed() - (time.time() - 600)) < 1
    with pytest.raises(ConfigurationError, match="tests only"):
        machine_clock({CLOCK_SKEW: "-600", "FACEPAY_ENVIRONMENT": "production"})


def test_a_clock_offset_learnt_on_a_full_disk_is_kept_in_memory(wired: Wired) -> None:
    pages = wired.store._db.execute("PRAGMA page_count").fetchone()[0]
    wired.store._db.execute(f"PRAGMA max_page_count = {pages}")
    for size in (3_000, 300, 30):
        with pytest.raises(StoreFull):
            _fill(wired, size)
    wired.agent.link.learn_clock(datetime.now(UTC) + timedelta(minutes=10))  # no StoreFull
    assert abs(wired.agent.link.offset - 600) < 2
