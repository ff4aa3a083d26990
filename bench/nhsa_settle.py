"""One outpatient settlement on the national platform, end to end over HTTP: facepay's client
(msgids stored in the message log before sending, on SQLite with synchronous=FULL) against the
platform simulator on loopback (`facepay.adapters.nhsa.simulator`, facepay's own engine behind
it): 1101 person info, 2201 registration, 2204 fee upload, 2206 pre-settlement, 2207 settlement
(9001 sign-in once per operator and day). Prints p50 / p95 per settlement and per message, with
the load average before and after: the machine is shared.

    nice -n 10 .venv/bin/python bench/nhsa_settle.py [--payments 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.tables import hospitals
from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.simulator import Simulator, running
from facepay.adapters.nhsa.store import Institution, SqlAlchemyMessageLog
from facepay.insurance.model import Bill, BillLine
from facepay.insurance.platform import Claim, Operator
from facepay.shared.clock import SystemClock

SITE = Institution("hsp_bench", "H31010500099", "示例市第一人民医院", "310105")
KIOSK = Operator("self_service", "T8f3a61c2d4e5b6a7980c1d2e3f4a5b", "大厅自助机")
ID_NUMBER = "110101199003074514"
MESSAGES = 5  # 1101, 2201, 2204, 2206, 2207 (the sign-in is once a day)


def _bill(today: date) -> Bill:
    return Bill(
        visit_type="outpatient",
        hospital_tier=3,
        service_date=today,
        lines=(
            BillLine("001102000010000", "门诊诊查费", "A", 2500, Decimal(1)),
            BillLine("XJ01CRA040A001010100740", "阿莫西林胶囊", "B", 1866, Decimal("2.5")),
            BillLine("C250402001", "一次性雾化器", "C", 1200, Decimal(1)),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    clock = SystemClock()
    sim = SimulatedPlatform(policies=shipped_policies(), clock=clock, area=SITE.mdtrtarea_admvs)
    sim.enrol(certno=ID_NUMBER, name="李秀英", category="employee_retired", balance=10**9)
    with tempfile.TemporaryDirectory() as folder, running(Simulator(sim)) as url:
        engine = database_engine(f"sqlite:///{Path(folder) / 'bench.sqlite'}", pool_size=2)
        upgrade(engine)
        with engine.begin() as conn:
            now = datetime.now(UTC)
            conn.execute(
                hospitals.insert().values(id=SITE.hospital_id, name="bench", created_at=now)
            )
        log = SqlAlchemyMessageLog(engine)
        log.save_institution(SITE, at=datetime.now(UTC))
        with httpx.Client(base_url=url, timeout=10) as http:
            platform = NhsaPlatform(NhsaClient(http=http, log=log, clock=clock))
            today = clock.now().astimezone().date()
            times = []
            for n in range(args.payments + 1):
                claim = Claim(
                    key=f"bench-{n}",
                    hospital_id=SITE.hospital_id,
                    person_id="pat_bench",
                    id_number=ID_NUMBER,
                    person_name="李秀英",
                    category="employee_retired",
                    bill=_bill(today),
                    visit_ref=f"MZ{n:08d}",
                    operator=KIOSK,
                )
                started = time.perf_counter()
                platform.settle(claim)
                times.append(time.perf_counter() - started)
        engine.dispose()
    times = times[1:]  # the first pays for the day's sign-in
    ms = sorted(t * 1000 for t in times)
    p50, p95 = statistics.median(ms), ms[int(len(ms) * 0.95) - 1]
    print(f"{len(ms)} outpatient settlements ({MESSAGES} messages each, message log on SQLite)")
    print(f"  per settlement: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"  per message:    p50 {p50 / MESSAGES:.1f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
