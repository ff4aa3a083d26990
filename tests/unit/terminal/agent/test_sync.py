"""Sync against a fake server: the package kept and checked, the outbox drained exactly once
(posted, held, quarantined, replayed, a cut mid-batch), one agent per folder, a wrong clock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from tests.unit.terminal.agent.conftest import TERMINAL, FakeServer, Wired

from facepay.shared.errors import ConfigurationError
from facepay.terminal.agent.link import ServerOffline
from facepay.terminal.agent.store import NewVoucher
from facepay.terminal.agent.sync import DataLock
from facepay.terminal.protocol import OfflineLimits, Voucher, sign_voucher, uuid7


def vouchers(wired: Wired, count: int, *, key=None) -> list[str]:
    """`count` chained vouchers written as the agent writes them (signed by `key`)."""
    signer = key or wired.server.terminal_key
    ids = []
    for _ in range(count):

        def build(counter: int, prev_hash: str) -> NewVoucher:
            voucher = Voucher(
                id=uuid7(), terminal_id=TERMINAL, hospital_id="hsp_1", counter=counter,
                prev_hash=prev_hash, created_at="2026-03-01T08:00:00+00:00",
                limits_version="lim-1", library_version="lib-1", bill_id=f"bil_{counter}",
                bill_total_fen=1_000, person_id="per_a", evidence={}, provisional={},
                cash_collected_fen=0,
            )  # fmt: skip
            signed, digest = sign_voucher(signer, voucher)
            return NewVoucher(signed, digest, voucher.id, voucher.created_at, voucher.bill_id,
                              "per_a", 1_000, 0, "lib-1", 0, {"year": 2026})  # fmt: skip

        ids.append(wired.store.append_voucher(idempotency_key=uuid7(), build=build).voucher_id)
    return ids


def test_refresh_registers_the_sealing_key_pins_the_server_key_and_keeps_the_package(
    wired: Wired,
) -> None:
    state = wired.agent.keeper.refresh()
    assert state.error is None
    assert state.library is not None
    assert set(state.library.persons) == {"per_a", "per_b"}
    assert wired.server.sealing_key is not None
    assert wired.store.meta("server_key") is not None
    again = wired.reopen()
    loaded = again.agent.keeper.state
    assert loaded.library is not None
    assert loaded.limits is not None
    assert loaded.limits.version == state.limits.version
    assert wired.server.requests.count("PUT /v1/terminal/sealing-key") == 1
    again.agent.keeper.refresh()
    assert wired.server.requests.count("PUT /v1/terminal/sealing-key") == 1


def test_limits_edited_on_disk_are_refused_at_load(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    path = wired.store.path
    wired.store.close()
    with sqlite3.connect(path) as raw:
        (limits,) = raw.execute("SELECT limits FROM package").fetchone()
        raw.execute(
            "UPDATE package SET limits = ?", (limits.replace('"payload": "', '"payload": "e'),)
        )
    again = wired.reopen()
    assert again.agent.keeper.state.limits is None
    assert "refused" in (again.agent.keeper.state.error or "")


def test_a_package_from_another_server_key_is_refused_and_the_last_one_kept(wired: Wired) -> None:
    first = wired.agent.keeper.refresh()
    wired.server.key = FakeServer().key
    second = wired.agent.keeper.refresh()
    assert "pinned" in (second.error or "")
    assert second.limits is first.limits
    assert second.library is first.library


def test_a_library_that_is_not_the_one_the_limits_name_is_refused(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    real = wired.server.package

    def swapped(now):
        body = real(now)
        other = real(now)
        body["library"] = other["library"]
        return body

    wired.server.package = swapped  # type: ignore[method-assign]
    state = wired.agent.keeper.refresh()
    assert "not the one the signed limits name" in (state.error or "")


def test_the_outbox_drains_in_counter_order_and_each_voucher_posts_once(wired: Wired) -> None:
    ids = vouchers(wired, 3)
    report = wired.agent.syncer.drain()
    assert report.by_status == {"posted": 3}
    assert wired.server.posted == ids
    assert wired.store.outbox_counts()["synced"] == 3
    assert wired.agent.syncer.drain().sent == 0


def test_held_vouchers_stay_and_are_sent_again(wired: Wired) -> None:
    vouchers(wired, 2)
    wired.server.hold_once = {1}
    first = wired.agent.syncer.drain()
    assert first.by_status == {"held": 2}
    assert wired.store.outbox_counts() == {"pending": 0, "held": 2, "synced": 0}
    second = wired.agent.syncer.drain()
    assert second.by_status == {"posted": 2}
    assert wired.store.outbox_counts()["synced"] == 2


def test_quarantined_vouchers_are_final(wired: Wired) -> None:
    vouchers(wired, 1)
    forged = vouchers(wired, 1, key=FakeServer().terminal_key)
    report = wired.agent.syncer.drain()
    assert report.by_status == {"posted": 1, "quarantined": 1}
    assert wired.server.results[forged[0]]["reason"] == "signature_bad"
    assert wired.store.outbox_counts()["synced"] == 2


def test_an_answer_lost_after_the_server_committed_is_replayed_not_doubled(wired: Wired) -> None:
    ids = vouchers(wired, 2)
    wired.server.cut = lambda request: "after" if request.url.path.endswith("vouchers") else None
    lost = wired.agent.syncer.drain()
    assert lost.sent == 0
    assert "did not answer" in (lost.error or "")
    assert wired.server.posted == ids
    assert wired.store.outbox_counts()["pending"] == 2
    wired.server.cut = lambda request: None
    again = wired.agent.syncer.drain()
    assert again.by_status == {"posted": 2}
    assert again.replayed == 2
    assert wired.server.posted == ids
    assert wired.store.outbox_counts()["synced"] == 2


def test_a_cut_mid_batch_keeps_the_rest_for_later(wired: Wired) -> None:
    ids = vouchers(wired, 60)
    calls = {"n": 0}

    def second_batch_refused(request: httpx.Request) -> str | None:
        if request.url.path.endswith("vouchers"):
            calls["n"] += 1
            return "before" if calls["n"] == 2 else None
        return None

    wired.server.cut = second_batch_refused
    report = wired.agent.syncer.drain()
    assert report.sent == 50
    assert report.by_status == {"posted": 50}
    assert wired.store.outbox_counts() == {"pending": 10, "held": 0, "synced": 50}
    assert wired.store.meta("last_error").startswith("cannot reach")
    assert wired.agent.link.online is False
    wired.agent.syncer.drain()
    assert wired.server.posted == ids
    assert wired.store.outbox_counts()["synced"] == 60


def test_differences_become_notices_for_the_next_visit(wired: Wired) -> None:
    vouchers(wired, 2)
    wired.server.differences = {"bil_1": {"kind": "arrears", "amount_fen": 350},
                                "bil_2": {"kind": "refund_due", "amount_fen": 120}}  # fmt: skip
    wired.agent.syncer.drain()
    notices = wired.agent.notices("per_a")
    assert [(n["kind"], n["amount_fen"]) for n in notices] == [
        ("arrears", 350),
        ("refund_due", 120),
    ]


def test_a_terminal_clock_ten_minutes_off_still_signs_acceptable_requests(wired: Wired) -> None:
    wired.server.clock_skew = timedelta(minutes=10)
    vouchers(wired, 1)
    report = wired.agent.syncer.drain()
    assert report.by_status == {"posted": 1}
    assert 590 < wired.agent.link.offset < 610
    assert float(wired.store.meta("clock_offset")) == pytest.approx(wired.agent.link.offset)
    assert (
        wired.server.requests.count("POST /v1/terminal/vouchers") == 2
    )  # refused, then signed again
    wired.agent.keeper.refresh()  # server_time is the precise clock
    assert abs(wired.agent.link.offset - 600) < 1.5


def test_two_agents_on_one_data_folder_refuse_to_start(wired: Wired) -> None:
    first = DataLock(wired.store.folder).acquire()
    with pytest.raises(ConfigurationError) as second:
        DataLock(wired.store.folder).acquire()
    assert second.value.code == "terminal_agent_running"
    first.release()
    DataLock(wired.store.folder).acquire().release()


def test_an_unreachable_server_is_offline(wired: Wired) -> None:
    wired.server.cut = lambda request: "before"
    with pytest.raises(ServerOffline) as offline:
        wired.agent.keeper.refresh()
    assert offline.value.sent is False
    assert wired.agent.mode() == "offline"


def test_a_gateway_error_is_offline(wired: Wired) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(504)

    wired.http._transport = httpx.MockTransport(gateway)
    with pytest.raises(ServerOffline):
        wired.agent.keeper.refresh()


def test_limits_sent_with_the_package_are_those_in_force(wired: Wired) -> None:
    wired.server.limits = OfflineLimits(per_payment_fen=1_000, cumulative_fen=2_000)
    state = wired.agent.keeper.refresh()
    assert state.limits.limits.per_payment_fen == 1_000
    assert wired.agent.status()["limits"]["per_payment_fen"] == 1_000


def test_the_background_loop_refreshes_and_uploads_and_retries_when_offline(wired: Wired) -> None:
    wired.server.cut = lambda request: "before"
    assert wired.agent.tick(100.0) == 110.0
    assert wired.store.meta("mode") == "offline"
    wired.server.cut = lambda request: None
    vouchers(wired, 2)
    stop = threading.Event()
    loop = threading.Thread(target=wired.agent.run, args=(stop,))
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while wired.store.outbox_counts()["synced"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        wired.agent.wake()
        loop.join(timeout=10)
    assert wired.store.outbox_counts()["synced"] == 2
    assert wired.agent.keeper.state.library is not None
    assert wired.store.meta("mode") == "online"


def test_the_loop_retries_soon_once_a_payment_found_the_server_gone(wired: Wired) -> None:
    now = [1_000.0]
    ticks: list[float] = []
    tick = wired.agent.tick

    def counted(at: float) -> float:
        due = tick(at)
        ticks.append(at)  # once the round is over
        return due

    wired.agent.tick = counted  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=wired.agent.run, args=(stop, lambda: now[0]))
    loop.start()
    try:
        _until(lambda: len(ticks) == 1)  # online: the next round is a refresh period away
        wired.server.cut = lambda request: "before"
        assert wired.agent.challenge()["mode"] == "offline"  # the link now knows
        for moment in (1_011.0, 1_022.0):  # wherever the loop noticed, within 10 s of it
            now[0] = moment
            wired.agent.wake()
            _until(lambda: len(ticks) >= 2, seconds=1.5, fail=False)
    finally:
        stop.set()
        wired.agent.wake()
        loop.join(timeout=10)
    assert len(ticks) >= 2
    assert ticks[1] <= 1_022.0


def _until(done: Callable[[], bool], *, seconds: float = 5.0, fail: bool = True) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            assert not fail, "timed out"
            return
        time.sleep(0.02)
