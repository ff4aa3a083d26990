"""The stage of the HIS walk: its own NHSA simulator, its own facepay server settling there, a
site registered on both, and the site's MLLP listener with notifications to the demo HIS.

The HIS walk cannot use the main demo server: with the national platform, pharmacy returns,
booking fees, emergencies and offline payments are refused or stay local, and the day's other
flows use them. So this stage builds a server of its own, in this process and on the demo's
face engine (no second model load), in a data folder of its own (SQLite).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from facepay.adapters.hl7v2.inbound import Receiver
from facepay.adapters.hl7v2.inbound import Site as Hl7Site
from facepay.adapters.hl7v2.listener import MllpListener
from facepay.adapters.hl7v2.notifier import MllpNotifier
from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.simulator import Simulator, running
from facepay.adapters.nhsa.store import Institution
from facepay.api.app import create_app
from facepay.bootstrap import build_access, build_engine, build_services, build_unit_of_work
from facepay.client import StaffSession
from facepay.config import Settings
from facepay.demo.his import HIS_APPLICATION, HIS_FACILITY
from facepay.demo.in_thread import fast_passwords, seed_operator, serve_in_thread
from facepay.services.context import Services
from facepay.shared.clock import SystemClock
from facepay.vision.engine import FaceEngine

AREA = "310105"
OPERATOR = ("his-demo-operator", "his-demo-" + "operator-pass-2026")


@dataclass
class Stage:
    """The running pieces the walk drives."""

    url: str
    http: httpx.Client
    services: Services
    operator: StaffSession
    simulator: SimulatedPlatform

    @property
    def platform(self) -> NhsaPlatform:
        """facepay's client of the national platform (the simulator)."""
        platform = self.services.platform
        if not isinstance(platform, NhsaPlatform):
            raise TypeError("the HIS stage settles on the national platform")
        return platform

    def register_site(self, hospital_id: str, name: str) -> str:
        """Give the site a national institution code (`facepay nhsa register-site`)."""
        code = f"H{AREA}{secrets.randbelow(10**5):05d}"
        institution = Institution(hospital_id, code, name, AREA)
        self.platform.client.log.save_institution(institution, at=self.services.clock.now())
        return code

    def insure(self, *, certno: str, name: str, balance_fen: int) -> str:
        """The person on the national platform, with the personal account facepay knows."""
        person = self.simulator.enrol(
            certno=certno, name=name, category="employee_active", balance=balance_fen
        )
        return person.psn_no


def stage_settings(folder: Path, nhsa_url: str) -> Settings:
    """The stage server's settings: its own SQLite folder, the national platform, quick
    notification rounds. Given in full, so that FACEPAY_* variables of the shell (a database
    URL, a gallery backend) cannot point the demo at something else."""
    return Settings(
        data_dir=folder,
        database_url=None,
        environment="dev",
        jwt_secret=secrets.token_hex(32),
        gallery_backend="memory",
        settlement_platform="nhsa",
        nhsa_url=nhsa_url,
        fhir_subscription_interval_seconds=0.2,
        fhir_subscription_backoff_seconds=0.2,
        api_rate_terminal_per_second=200.0,
        api_rate_terminal_burst=200,
    )


@contextmanager
def staged(folder: Path, engine: FaceEngine) -> Iterator[Stage]:
    """The simulator and the server, until the block ends."""
    simulated = SimulatedPlatform(policies=shipped_policies(), clock=SystemClock(), area=AREA)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with running(Simulator(simulated)) as nhsa_url:
        settings = stage_settings(folder, nhsa_url)
        database = build_engine(settings)
        try:
            services = build_services(
                settings, face_engine=engine, uow=build_unit_of_work(settings, database)
            )
            passwords = fast_passwords()
            seed_operator(services, username=OPERATOR[0], password=OPERATOR[1],
                          passwords=passwords)  # fmt: skip
            app = create_app(
                services, build_access(settings, storage=services, passwords=passwords)
            )
            with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
                operator = StaffSession.login(http, *OPERATOR)
                yield Stage(url, http, services, operator, simulated)
        finally:
            database.dispose()


@contextmanager
def listening(
    services: Services, hospital_id: str, notify_port: int
) -> Iterator[tuple[tuple[str, int], MllpListener, MllpNotifier]]:
    """`facepay his listen --mllp 127.0.0.1:0 --site S --notify 127.0.0.1:P` on a thread of its
    own: yields the listener's address, the listener and the notifier (for their counters)
    once the notifier's cursor stands at the site's newest event."""
    listener = MllpListener(Receiver(services, Hl7Site(hospital_id, frozenset({hospital_id}))))
    notifier = MllpNotifier(
        services, hospital_id, "127.0.0.1", notify_port,
        to_application=HIS_APPLICATION, to_facility=HIS_FACILITY, poll_seconds=0.2,
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        box["address"] = await listener.start("127.0.0.1", 0)
        task = asyncio.create_task(notifier.run(stop))
        ready.set()
        await stop.wait()
        await listener.stop()
        await task

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as error:  # reported to the caller below
            box["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="demo-his-listener", daemon=True)
    thread.start()
    try:
        ready.wait(30)
        if "address" not in box:
            raise RuntimeError(f"the MLLP listener did not start: {box.get('error')!r}")
        _await_cursor(services, hospital_id, notifier.endpoint)
        yield box["address"], listener, notifier  # type: ignore[misc]
    finally:
        stop = box.get("stop")
        if isinstance(stop, asyncio.Event):
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def _await_cursor(services: Services, hospital_id: str, endpoint: str) -> None:
    """Wait (at most 30 s) until the notifier has set its cursor: from then on it hears every
    event of the site (a new endpoint starts at the newest one)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with services.uow() as uow:
            if uow.hl7.cursor(hospital_id, endpoint) is not None:
                return
        time.sleep(0.02)
    raise RuntimeError("the MLLP notifier did not start")
