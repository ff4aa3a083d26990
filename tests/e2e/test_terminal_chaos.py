"""Chaos: a real `facepay serve` (SQLite, PostgreSQL), two real `facepay terminal run` agents
behind a NetCut the test controls, patients identified by face through the agent (synthetic
captures of the test photographs). Network cut before the request and after the server
committed, kill -9 of an agent between the voucher write and the answer and in the middle of a
sync, the same vouchers delivered twice and out of order, two terminals paying offline for one
patient past their means, a server killed during a sync, a terminal clock 10 minutes off, a full
disk. Every scenario ends with the same check (`chaos_kit.check_agreement`): server and
terminals agree voucher by voucher, the ledger balances, each bill is settled once.

One server per database and two agents for the whole module; the scenarios run in order on them
(each leaves everything synced). Mechanisms: kill -9 at an exact point uses the agent's test-only
failpoints (FACEPAY_TERMINAL_TEST_PAUSE_AT), the clock the test-only skew
(FACEPAY_TERMINAL_TEST_CLOCK_SKEW_SECONDS; libfaketime is not installed), the full disk
RLIMIT_FSIZE 0 set on the running agent with prlimit(2) (CPython ignores SIGXFSZ, so writes fail
with EFBIG).

The clock and the full disk are the terminal's own: they run on the SQLite server only (the
make-test budget); every scenario that touches the server's exactly-once runs on both."""

from __future__ import annotations

import contextlib
import resource
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.chaos_kit import (
    LIMITS,
    Server,
    Terminal,
    check_agreement,
    follow,
    offline_bill,
    server_vouchers,
    status_json,
    wait_for,
)
from tests.e2e.conftest import SERVED_ENV

from facepay.client import StaffSession, TerminalSession
from facepay.demo import kiosk
from facepay.demo.netcut import NetCut
from facepay.demo.process import OPERATOR_PASSWORD
from facepay.demo.scenario import expect
from facepay.demo.world import Site, make_site, register_person
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

pytestmark = pytest.mark.slow
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PAUSED = "failpoint {} reached"


@dataclass
class World:
    """The module's server, proxy, site, patients, their open bills, and the two agents."""

    server: Server
    cut: NetCut
    site: Site
    http: httpx.Client
    obama: Subject
    biden: Subject
    bills: dict[str, list[dict[str, Any]]]
    a: Terminal
    b: Terminal

    def bill(self, who: str) -> dict[str, Any]:
        """The next open bill of a patient."""
        return self.bills[who].pop(0)

    def check(self) -> Any:
        """The check every scenario ends with."""
        return check_agreement(self.server, self.site, [self.a, self.b])


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    face_engine: Any,
    images_dir: Path,
) -> Iterator[World]:
    root = tmp_path_factory.mktemp(f"chaos-{request.param}")
    env = dict(SERVED_ENV)
    if request.param == "postgresql":
        env["FACEPAY_DATABASE_URL"] = request.getfixturevalue("create_postgres_database")(
            "facepay_chaos_"
        )
    server = Server(root / "server", env)
    http = httpx.Client(base_url=server.process.url, timeout=180)
    try:
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=610)
        expect(site.admin.request("PUT", "/v1/offline-limits", LIMITS), 200)
        # Biden's personal account holds 300 yuan: two terminals offline can spend it twice.
        biden_card = register_person(operator, serial=611, name="Joe Biden", fund_fen=30_000)

        def subject(file: str) -> Subject:
            return subjects_from_photo(face_engine, load_image(images_dir / file), file, file)[0]

        obama, biden = subject("obama2.jpg"), subject("biden.jpg")
        for seed, (card, face, chip) in enumerate(
            [(site.person, obama, "obama.jpg"), (biden_card, biden, "biden.jpg")]
        ):
            done = kiosk.enrol(site.kiosk, card, load_image(images_dir / chip), face, seed=seed)
            assert done.status_code == 201, done.text
        # Every bill before the agents start: their first package holds them all.
        bills = {
            "obama": [offline_bill(site, site.person, 3_000 + 10 * i) for i in range(12)],
            "biden": [offline_bill(site, biden_card, 25_000) for _ in range(2)],
        }
        second = site.add_terminal("kiosk")
        with NetCut(server.port) as cut:
            terminals = []
            for name, terminal_id, pem in (
                ("a", site.kiosk.terminal_id, site.kiosk_pem),
                ("b", second.terminal_id, _pem(second)),
            ):
                key = root / f"{name}.pem"
                key.write_text(pem)
                key.chmod(0o600)
                terminals.append(
                    Terminal(name, terminal_id, key, root / f"agent-{name}", cut.url, env)
                )
            a, b = terminals
            # Both at once (each loads the face models); B pauses after its first voucher
            # write: the kill -9 scenario's agent.
            starting = threading.Thread(target=a.start)
            starting.start()
            b.start(FACEPAY_TERMINAL_TEST_PAUSE_AT="voucher_written")
            starting.join()
            for terminal in (a, b):
                wait_for(lambda t=terminal: t.api.get("/status").json()["library"]["persons"])
            yield World(server, cut, site, http, obama, biden, bills, a, b)
            for terminal in (a, b):
                terminal.stop()
    finally:
        http.close()
        server.close()


def _pem(session: TerminalSession) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return session.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _synced(terminal: Terminal) -> list[tuple[str, bool]]:
    """Sync now (the agent's own loop may get there first: either way, one sender) until the
    outbox is empty; each stored voucher's (status, replayed) as the server answered it."""
    assert terminal.sync()["outbox"]["depth"] == 0
    return [(v["result"]["status"], v["result"]["replayed"]) for v in terminal.stored()]


def _paid(answer: httpx.Response, mode: str) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["status"], body["mode"]) == ("paid", mode), body
    return body


def test_a_cut_before_the_request_pays_offline_then_syncs(world: World) -> None:
    world.cut.cut()
    paid = _paid(world.a.pay(world.bill("obama")["id"], world.obama, seed=1), "offline")
    assert paid["provisional"] is True
    assert world.a.api.get("/status").json()["outbox"]["depth"] == 1
    world.cut.restore()
    assert _synced(world.a) == [("posted", False)]
    world.check()


def test_an_answer_lost_after_the_server_committed_is_never_charged_twice(world: World) -> None:
    bill = world.bill("obama")
    world.cut.drop_answers(only=b"/payments HTTP")
    lost = world.a.pay(bill["id"], world.obama, seed=2, key="chaos-lost-answer-1")
    assert lost.status_code == 503, lost.text
    assert lost.json()["code"] == "payment_outcome_unknown"
    assert expect(world.site.cashier.request("GET", f"/v1/bills/{bill['id']}"), 200)["status"] == (
        "paid"
    )
    world.cut.restore()
    again = _paid(world.a.pay(bill["id"], world.obama, seed=3, key="chaos-lost-answer-1"), "online")
    assert again["receipt"]["replayed"] is True
    assert bill["id"] not in {v["bill_id"] for v in world.a.stored()}  # never paid offline
    world.check()


def test_two_terminals_past_the_means_kill_9_after_the_write_and_mid_sync(world: World) -> None:
    first, second = world.bill("biden"), world.bill("biden")
    world.cut.cut()
    _paid(world.a.pay(first["id"], world.biden, seed=4), "offline")
    # B writes its voucher and is killed before it answers: the kiosk never heard "paid".
    answers: list[Any] = []

    def pay_on_b() -> None:
        try:
            answers.append(world.b.pay(second["id"], world.biden, seed=5, key="chaos-b-kill-1"))
        except httpx.HTTPError as error:
            answers.append(error)

    payer = threading.Thread(target=pay_on_b)
    payer.start()
    wait_for(lambda: world.b.log_has(PAUSED.format("voucher_written")), 60, "the voucher write")
    world.b.kill()
    payer.join(timeout=30)
    assert isinstance(answers[0], httpx.HTTPError)
    world.b.start(FACEPAY_TERMINAL_TEST_PAUSE_AT="vouchers_sent")
    (written,) = world.b.stored()
    assert written["status"] == "pending"
    # The kiosk asks again with its key: the same voucher, not a second payment.
    again = _paid(world.b.pay(second["id"], world.biden, seed=6, key="chaos-b-kill-1"), "offline")
    assert (again["voucher"]["id"], again["replayed"]) == (written["id"], True)
    world.cut.restore()
    assert _synced(world.a)[-1] == ("posted", False)
    # B's upload reaches the server, which commits; B is killed before it stores the answers.
    syncing = threading.Thread(target=lambda: _quietly(lambda: world.b.api.post("/sync")))
    syncing.start()
    wait_for(lambda: world.b.log_has(PAUSED.format("vouchers_sent")), 60, "the upload")
    world.b.kill()
    syncing.join(timeout=30)
    assert {v["id"] for v in server_vouchers(world.site, world.b.terminal_id)} == {written["id"]}
    # Restarted (with its clock 10 minutes slow, for the next scenario): sent again, replayed.
    world.b.start(FACEPAY_TERMINAL_TEST_CLOCK_SKEW_SECONDS="-600")
    assert world.b.sync()["outbox"]["depth"] == 0  # (its loop may have sent it on start)
    (resent,) = world.b.stored()
    assert (resent["result"]["status"], resent["result"]["replayed"]) == ("posted", True)
    # 250 + 250 yuan against 300 in the account: the later settlement is short, arrears.
    outcomes = [
        v["difference"]
        for t in (world.a, world.b)
        for v in server_vouchers(world.site, t.terminal_id)
        if v["bill_id"] in (first["id"], second["id"])
    ]
    assert sorted(d["kind"] for d in outcomes) == ["arrears", "none"], outcomes
    (owed,) = [d for d in outcomes if d["kind"] == "arrears"]
    assert owed["amount_fen"] == 20_000
    person = written["result"]["person_id"] if written["result"] else None
    notices = [
        n
        for t in (world.a, world.b)
        for n in t.api.get(f"/notices/{person or _person_of(world, second)}").json()["notices"]
    ]
    assert [(n["kind"], n["amount_fen"]) for n in notices] == [("arrears", 20_000)]
    world.check()


def _person_of(world: World, bill: dict[str, Any]) -> str:
    return str(
        expect(world.site.cashier.request("GET", f"/v1/bills/{bill['id']}"), 200)["person_id"]
    )


def _quietly(call: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):
        call()


def test_the_same_vouchers_twice_and_out_of_order(world: World) -> None:
    world.cut.cut()
    for seed in (7, 8):
        _paid(world.a.pay(world.bill("obama")["id"], world.obama, seed=seed), "offline")
    waiting = [v for v in world.a.stored() if v["status"] == "pending"]
    assert len(waiting) == 2
    signer = TerminalSession.from_pem(world.http, world.a.terminal_id, world.a.key_file.read_text())

    def upload(*vouchers: dict[str, Any]) -> list[dict[str, Any]]:
        body = {"vouchers": [v["signed"] for v in vouchers]}
        return list(expect(signer.request("POST", "/v1/terminal/vouchers", body), 200)["results"])

    # Straight to the server, newest first: held, then both posted; then all again: replayed.
    assert [r["status"] for r in upload(waiting[1])] == ["held"]
    assert [r["status"] for r in upload(waiting[0], waiting[1])] == ["posted", "posted"]
    everything = world.a.stored()
    replays = upload(*reversed(everything[-50:]))
    assert all(r["replayed"] for r in replays)
    world.cut.restore()
    # The agent (its loop or this sync) sends its two: the server answers with the first outcome.
    assert _synced(world.a)[-2:] == [("posted", True)] * 2
    world.check()


def test_a_server_killed_during_a_sync(world: World) -> None:
    world.cut.cut()
    for seed in (9, 10, 11):
        _paid(world.a.pay(world.bill("obama")["id"], world.obama, seed=seed), "offline")
    world.cut.restore()
    syncing = threading.Thread(target=lambda: _quietly(lambda: world.a.api.post("/sync")))
    syncing.start()
    world.server.kill()
    syncing.join(timeout=60)
    world.server.restart()
    follow(world.cut, world.server)
    world.http.base_url = httpx.URL(world.server.process.url)
    assert {status for status, _ in _synced(world.a)[-3:]} == {"posted"}
    world.check()


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_a_terminal_clock_ten_minutes_slow(world: World) -> None:
    # B was restarted with its clock 600 s slow; it learnt the offset from the server.
    status = status_json(world.b)
    assert abs(status["clock_offset_seconds"] - 600) < 5, status
    world.cut.cut()
    paid = _paid(world.b.pay(world.bill("obama")["id"], world.obama, seed=12), "offline")
    world.cut.restore()
    assert _synced(world.b)[-1] == ("posted", False)
    (there,) = [
        v for v in server_vouchers(world.site, world.b.terminal_id)
        if v["id"] == paid["voucher"]["id"]
    ]  # fmt: skip
    made = datetime.fromisoformat(there["created_at"])
    assert abs((made - datetime.now(UTC)).total_seconds()) < 60  # on the server's clock
    world.check()


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_a_full_disk_on_the_terminal(world: World) -> None:
    assert world.a.agent is not None
    pid = world.a.agent.process.pid
    before = len(world.a.stored())
    world.cut.cut()
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    try:
        refused = world.a.pay(world.bill("obama")["id"], world.obama, seed=13)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "terminal_storage_full"
        world.cut.restore()
        online = world.a.pay(world.bill("obama")["id"], world.obama, seed=14)
        assert (online.status_code, online.json()["code"]) == (422, "terminal_storage_full")
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    assert len(world.a.stored()) == before
    world.cut.cut()
    _paid(world.a.pay(world.bill("obama")["id"], world.obama, seed=15), "offline")
    world.cut.restore()
    assert _synced(world.a)[-1] == ("posted", False)
    final = world.check()
    assert final.arrears == 1
    assert final.quarantined == 0
