"""Server side of a face payment through the HTTP API: the kiosk's signed calls to identify
(liveness + 1:N) and pay (settle + ledger commit), timed by the server itself (its
`Server-Timing` header), on a real uvicorn over the embedded SQLite and the real dlib model.
Synthesising and encoding the capture (the terminal's work), presettlement (a screen refresh) and
posting the bill (the hospital system's call) are not timed. bench/payment.py times the same use
cases without HTTP.

    nice -n 10 .venv/bin/python bench/payment_http.py [--payments 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported (see facepay serve)

import httpx  # noqa: E402

from facepay.api.app import create_app  # noqa: E402
from facepay.bootstrap import (  # noqa: E402
    build_access,
    build_engine,
    build_face_engine,
    build_services,
    build_unit_of_work,
)
from facepay.config import Settings  # noqa: E402
from facepay.demo.in_thread import fast_passwords, seed_operator, serve_in_thread  # noqa: E402
from facepay.demo.people import demo_patients  # noqa: E402
from facepay.demo.scenario import DemoReport, pay_once, register_and_enrol, set_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = ("operator", "operator-pass-2026")


def main() -> None:
    """Enrol two patients, time `--payments` face payments, print p50/p95."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facepay-bench-") as folder:
        settings = Settings(
            data_dir=Path(folder),
            api_rate_terminal_per_second=1000.0,
            api_rate_staff_per_second=1000.0,
        )
        engine = build_face_engine(settings)
        database = build_engine(settings)
        uow = build_unit_of_work(settings, database)
        services = build_services(settings, face_engine=engine, uow=uow)
        passwords = fast_passwords()
        seed_operator(services, username=OPERATOR[0], password=OPERATOR[1], passwords=passwords)
        app = create_app(services, build_access(settings, storage=services, passwords=passwords))
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
            actors = set_up(http, operator=OPERATOR, tag="bench")
            report = DemoReport()
            patients = demo_patients(engine, ROOT / ".test-data" / "images")[:2]
            enrolled = register_and_enrol(actors, patients, engine, report)
            started = time.perf_counter()
            for serial in range(args.payments):
                seen = pay_once(actors, enrolled[serial % len(enrolled)], serial)
                if seen is None:
                    report.sent_to_cashier += 1
                else:
                    report.payments.append(seen)
            wall = time.perf_counter() - started
        database.dispose()
    times = sorted(p.server_ms for p in report.payments)
    p50, p95 = report.latency()
    retries = sum(p.liveness_retries for p in report.payments)
    print(
        f"payments: {len(times)} (liveness retries, not timed: {retries}; "
        f"given up after 5 refusals: {report.sent_to_cashier})"
    )
    print(f"server side (identify + pay): p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
          f"mean {statistics.fmean(times):.0f} ms, max {times[-1]:.0f} ms")  # fmt: skip
    print(f"client wall per payment incl. rendering: {wall / len(times) * 1000:.0f} ms")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
