"""The real MLLP listener over real sockets on a real database: fragmented reads, several
messages in one read, garbage, oversized and unterminated frames, the connection limit, peers
by CIDR, charsets, deduplication (the same message twice, and on two connections at once on
SQLite and PostgreSQL), the ACK only after commit, and notifications to a fake HIS."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.tables import hl7_cursors, hl7_messages
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, frame
from facepay.adapters.hl7v2.inbound import Receiver, Site
from facepay.adapters.hl7v2.listener import MllpListener, parse_networks
from facepay.adapters.hl7v2.notifier import MllpNotifier
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.id_card import IdCard, check_digit, sex_of
from facepay.services import bills
from facepay.services.admin import create_staff_user, register_hospital, register_insured_person
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.shared.clock import SystemClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hl7_kit as k

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def number(seed: int) -> str:
    body = f"11010519800102{seed * 2 + 1:03d}"
    return body + check_digit(body)


def services(engine: Engine, **settings: object) -> Services:
    fake = FakeFaceEngine()
    return Services(
        settings=Settings(gallery_backend="memory", **settings),  # type: ignore[arg-type]
        engine=fake,  # type: ignore[arg-type]
        gallery=InMemoryGallery(dim=128, model_version="fake"),
        sealer=TemplateSealer(secrets.token_bytes(32)),
        liveness=LivenessPolicy(engine=fake, checks=[]),  # type: ignore[arg-type]
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
    )


def populate(ctx: Services) -> None:
    register_hospital(ctx=ctx, actor="admin", name="市二院", hospital_id="hx", tier="secondary")
    create_staff_user(
        ctx=ctx,
        actor="admin",
        hospital_id="hx",
        username="dr.li",
        password_hash=HASH,
        role="doctor",
    )
    for seed, name in ((30, "王小明"), (31, "李秀英")):
        n = number(seed)
        register_insured_person(
            ctx=ctx,
            actor="admin",
            id_card=IdCard(n, name, sex_of(n), date(1980, 1, 2)),
            category="employee_active",
            insurance_card_number=f"CARD{seed:04d}",
            phone=f"1380000{1200 + seed:04d}",
            personal_account_fen=100_000,
        )


class Running:
    """A listener on its own event loop thread, on a free port of 127.0.0.1."""

    def __init__(self, ctx: Services, **options: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = Receiver(ctx, Site("hx", frozenset({"hx"})))
        self.listener = MllpListener(self.receiver, **options)  # type: ignore[arg-type]
        self.port = self._call(self.listener.start("127.0.0.1", 0))[1]

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self._call(self.listener.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def acks(sock: socket.socket, count: int, codec: str = "utf-8") -> list[str]:
    """Read `count` ACK frames."""
    decoder = MllpDecoder(1 << 20)
    got: list[str] = []
    while len(got) < count:
        data = sock.recv(65_536)
        if not data:
            break
        got += [e.payload.decode(codec) for e in decoder.feed(data) if isinstance(e, Frame)]
    return got


def closed(sock: socket.socket) -> bool:
    """The peer closed the connection without answering."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")


def reg(
    control: str, mr: str = "MR001", seed: int = 30, name: str = "王^小明", charset: str = ""
) -> str:
    return k.register(control, mr, number(seed), name, charset=charset).replace(
        "|FACEPAY|h1|", "|FACEPAY|hx|"
    )


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "facepay.sqlite"
    shutil.copyfile(sqlite_template, path)
    engine = database_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def running(sqlite_engine: Engine) -> Iterator[Running]:
    ctx = services(
        sqlite_engine,
        hl7_max_message_bytes=4_096,
        hl7_max_connections=3,
        hl7_idle_timeout_seconds=1.0,
    )
    populate(ctx)
    server = Running(ctx)
    yield server
    server.close()


def test_fragments_several_per_read_and_garbage(running: Running) -> None:
    stream = (
        b"noise"
        + frame(reg("F1").encode())
        + b"\r\n"
        + frame(reg("F2", "MR002", 31, "李^秀英").encode())
    )
    with running.connect() as s:
        for i in range(0, 40, 7):  # the first message in fragments
            s.sendall(stream[i : i + 7])
        s.sendall(stream[40:])  # the rest, the second message whole, in one write
        got = acks(s, 2)
    assert [msa(a)[1:3] for a in got] == [["AA", "F1"], ["AA", "F2"]]
    assert running.receiver.counters.garbage_bytes == 5 + 2


def test_oversized_is_ar_and_the_connection_goes_on(running: Running) -> None:
    big = reg("BIG") + "\rNTE|1||" + "x" * 5_000
    with running.connect() as s:
        s.sendall(frame(big.encode()) + frame(reg("AFTER").encode()))
        got = acks(s, 2)
    assert msa(got[0])[1:3] == ["AR", "BIG"]
    assert msa(got[1])[1:3] == ["AA", "AFTER"]
    assert running.receiver.counters.oversized == 1


def test_unterminated_frame_is_dropped_at_idle_timeout(running: Running) -> None:
    with running.connect() as s:
        s.sendall(b"\x0b" + reg("HALF").encode())
        assert closed(s)  # closed after the idle second, nothing answered
    assert running.receiver.counters.received == 0
    assert running.receiver.counters.garbage_bytes > 0


def test_connection_limit_and_peers(running: Running, sqlite_engine: Engine) -> None:
    held = [running.connect() for _ in range(3)]
    try:
        s = running.connect()
        s.sendall(frame(reg("L1").encode()))
        assert closed(s)  # the fourth is closed at once
        s.close()
    finally:
        for h in held:
            h.close()
    assert running.receiver.counters.refused_connections == 1
    other = Running(running.receiver.ctx, allow=parse_networks(["10.0.0.0/8"]))
    try:
        with other.connect() as s:
            s.sendall(frame(reg("P1").encode()))
            assert closed(s)
    finally:
        other.close()


@pytest.mark.parametrize(
    ("charset", "codec"), [("GB 18030-2000", "gb18030"), ("GBK", "gbk"), ("UNICODE UTF-8", "utf-8")]
)
def test_charsets_over_the_socket(running: Running, charset: str, codec: str) -> None:
    with running.connect() as s:
        s.sendall(frame(reg(f"C{codec}", "MR009", 31, "李^秀英", charset=charset).encode(codec)))
        (ack,) = acks(s, 1, codec)
    assert msa(ack)[1] == "AA"
    assert ack.split("\r")[0].endswith(charset)


def _count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(hl7_messages)).scalar_one())


def test_same_message_twice_and_on_two_connections_at_once(engine: Engine) -> None:
    """On SQLite and PostgreSQL: one stored row, one bill, the same ACK everywhere."""
    ctx = services(engine)
    populate(ctx)
    server = Running(ctx)
    try:
        with server.connect() as s:
            s.sendall(frame(reg("R1").encode()))
            acks(s, 1)
        dft = k.charges("D1", "MR001", "V1", ("X1", "血常规", "A", "25.50", "1")).replace(
            "|FACEPAY|h1|", "|FACEPAY|hx|"
        )

        def send() -> str:
            with server.connect() as s:
                s.sendall(frame(dft.encode()))
                return acks(s, 1)[0]

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: send(), range(4)))
        assert len(set(answers)) == 1
        assert msa(answers[0])[1] == "AA"
        assert send() == answers[0]
        assert _count(engine) == 2
        with ctx.uow() as uow:
            assert uow.bills.by_external_ref("hx", "V1") is not None
    finally:
        server.close()


def test_no_ack_when_the_message_cannot_be_stored(running: Running, sqlite_engine: Engine) -> None:
    """The ACK follows the commit: with the database refusing writes, no ACK, nothing kept."""
    with sqlite_engine.begin() as c:
        c.exec_driver_sql(
            "CREATE TRIGGER no_hl7 BEFORE INSERT ON hl7_messages "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    with running.connect() as s:
        s.sendall(frame(reg("X1").encode()))
        assert closed(s)
    assert running.receiver.counters.unanswered == 1
    with running.receiver.ctx.uow() as uow:
        assert uow.hl7.patient("hx", "MR001") is None
    assert _count(sqlite_engine) == 0


class FakeHis:
    """An MLLP server that ACKs (first `refuse` messages with AE) and records what it got."""

    def __init__(self, refuse: int = 0) -> None:
        self.got: list[str] = []
        self.refuse = refuse
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            decoder = MllpDecoder(1 << 20)
            with conn:
                while data := conn.recv(65_536):
                    for e in decoder.feed(data):
                        text = e.payload.decode()
                        self.got.append(text)
                        control = text.split("\r")[0].split("|")[9]
                        code = "AE" if self.refuse > 0 else "AA"
                        self.refuse -= 1
                        conn.sendall(
                            frame(
                                f"MSH|^~\\&|HIS|FAC|FACEPAY|hx|20260504||ACK|A{control}|P|2.5\rMSA|{code}|{control}".encode()
                            )
                        )


def test_notifications_of_a_paid_bill_reach_the_his(
    running: Running, sqlite_engine: Engine
) -> None:
    ctx = running.receiver.ctx
    his = FakeHis(refuse=1)
    notifier = MllpNotifier(ctx, "hx", "127.0.0.1", his.port, poll_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.run_coroutine_threadsafe(notifier.run(stop), running.loop)
    with running.connect() as s:
        s.sendall(frame(reg("R1").encode()))
        s.sendall(
            frame(
                k.charges("D1", "MR001", "V1", ("X1", "血常规", "A", "25.50", "1"))
                .replace("|FACEPAY|h1|", "|FACEPAY|hx|")
                .encode()
            )
        )
        acks(s, 2)
    with ctx.uow() as uow:
        bill = uow.bills.by_external_ref("hx", "V1")
    who = identify_by_credentials(
        ctx=ctx,
        hospital_id="hx",
        actor="kiosk",
        id_number=number(30),
        insurance_card_number="CARD0030",
    )
    bills.pay_bill(
        ctx=ctx,
        hospital_id="hx",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=who.identification_id,
        idempotency_key="pay-1",
    )
    deadline = time.monotonic() + 20
    while notifier.counters.acknowledged < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    running.loop.call_soon_threadsafe(stop.set)
    task.result(timeout=10)
    his.sock.close()
    assert notifier.counters.acknowledged == 1
    assert notifier.counters.retries == 1  # the AE was retried
    assert len(his.got) == 2
    assert his.got[0] == his.got[1]  # the same event id both times
    sent = his.got[-1]
    assert "|DFT^P03^DFT_P03|hx:" in sent
    assert "PID|1||MR001^^^HIS^MR" in sent
    assert "|PY|TOTAL^医疗费总额|||1|25.50" in sent
    k.check_golden("notify_dft_p03_paid.hl7", sent, times=True)
    with sqlite_engine.connect() as c:
        seq = c.execute(select(hl7_cursors.c.seq)).scalar_one()
    assert seq >= int(sent.split("|")[9].split(":")[1])  # the cursor moved past the event


def test_the_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`facepay his listen` on an installation: an ACK, then SIGTERM ends it with exit 0."""
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "FACEPAY_OPERATOR_PASSWORD": "Op-pass-word-123!",
        "FACEPAY_ADMIN_PASSWORD": "Ad-pass-word-123!",
    }
    cli = [sys.executable, "-c", "from facepay.cli import main; main()"]
    data = str(tmp_path / "data")
    made = subprocess.run(
        [*cli, "admin", "init", "--hospital", "市二院", "--data", data],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    site = re.search(r"hospital (hsp_[0-9a-f]+)", made.stdout + made.stderr).group(1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with subprocess.Popen(
        [*cli, "his", "listen", "--mllp", f"127.0.0.1:{port}", "--site", site, "--data", data],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as listener:
        try:
            assert listener.stderr is not None
            assert "listening on" in listener.stderr.readline()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(frame(reg("S1").replace("|FACEPAY|hx|", f"|FACEPAY|{site}|").encode()))
                (ack,) = acks(s, 1)
            assert msa(ack)[1:3] == ["AE", "S1"]  # not in that installation's registry
            listener.send_signal(signal.SIGTERM)
            assert listener.wait(timeout=30) == 0
            assert "1 received" in listener.stderr.read()
        finally:
            if listener.poll() is None:
                listener.kill()
