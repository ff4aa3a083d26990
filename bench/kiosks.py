"""Twenty kiosks of one hospital identifying patients at once, for minutes, against a real server.

Run: .venv/bin/python bench/kiosks.py [--kiosks 20] [--seconds 120]

Starts `facepay serve` in its own process (embedded SQLite, FAISS, the real dlib models), onboards
a hospital with `--kiosks` kiosk terminals, enrols the demo's patients, then runs one thread per
kiosk for `--seconds`: ask for a challenge, film a synthetic patient answering it, send the
capture to `POST /v1/identifications` (liveness + 1:N), retaking a capture that liveness refuses.
Prints throughput, p50 / p95 of the server's own handling time (its Server-Timing header) and of
the round trip, the outcomes (errors are anything but a match of the right patient or a liveness
retake), the server's RSS before and after and its CPU seconds per identification, with the load
average. The synthetic kiosks render their captures on the same 2 cores as the server (about 0.5
s of CPU per capture), so the server's CPU per identification is the figure that carries over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import httpx  # noqa: E402

from facepay.bootstrap import build_face_engine, load_settings  # noqa: E402
from facepay.client import StaffSession, server_ms  # noqa: E402
from facepay.demo import kiosk  # noqa: E402
from facepay.demo.people import demo_patients  # noqa: E402
from facepay.demo.process import OPERATOR_PASSWORD, serve_process  # noqa: E402
from facepay.demo.world import make_site  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "FACEPAY_ENVIRONMENT": "test",
    "FACEPAY_JWT_SECRET": "bench-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay",
    "FACEPAY_API_RATE_TERMINAL_PER_SECOND": "1000",
    "FACEPAY_API_RATE_TERMINAL_BURST": "1000",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    engine = build_face_engine(load_settings())
    patients = demo_patients(engine, ROOT / ".test-data" / "images")
    with tempfile.TemporaryDirectory(prefix="facepay-kiosks-") as folder:
        data = Path(folder) / "data"
        with (
            serve_process(data, env=ENV) as server,
            httpx.Client(base_url=server.url, timeout=300) as http,
        ):
            operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
            site = make_site(http, operator, serial=300)
            kiosks = site.add_kiosks(args.kiosks - 1)
            enrolled = []
            for seed, patient in enumerate(patients):
                card = {"id_number": patient.id_number, "name": patient.name, "sex": patient.sex,
                        "birth_date": patient.birth_date.isoformat()}  # fmt: skip
                registered = operator.request(
                    "POST",
                    "/v1/insured-persons",
                    {"id_card": card, "category": "employee_active",
                     "insurance_card_number": f"IC{patient.id_number[-8:]}"},
                )  # fmt: skip
                done = kiosk.enrol(site.kiosk, card, patient.chip_photo, patient.subject, seed=seed)
                if done.status_code == 201:
                    enrolled.append((patient, registered.json()["id"]))
            print(f"enrolled {len(enrolled)} of {len(patients)} patients; {args.kiosks} kiosks")
            print(f"load average before {os.getloadavg()}")
            rss_before, cpu_before = server.rss_kib(), cpu_seconds(server.pid)
            outcomes: Counter[str] = Counter()
            server_times: list[float] = []
            work_times: list[float] = []
            round_trips: list[float] = []
            lock = threading.Lock()
            stop = time.monotonic() + args.seconds

            def loop(slot: int) -> None:
                n = 0
                while time.monotonic() < stop:
                    patient, person_id = enrolled[(slot + n) % len(enrolled)]
                    started = time.monotonic()
                    try:
                        response = kiosk.identify(
                            kiosks[slot], patient.subject, seed=slot * 10_000 + n, attempts=1
                        )
                    except httpx.HTTPError as error:
                        with lock:
                            outcomes[f"error: {type(error).__name__}"] += 1
                        continue
                    elapsed = (time.monotonic() - started) * 1000
                    body = response.json()
                    with lock:
                        if response.status_code == 201 and body.get("person_id") == person_id:
                            outcomes["match"] += 1
                            server_times.append(server_ms(response))
                            work_times.append(server_ms(response) - server_ms(response, "queue"))
                            round_trips.append(elapsed)
                        elif body.get("code") in kiosk.RETAKES:
                            outcomes[f"retake: {body['code']}"] += 1
                        else:
                            outcomes[f"error: {response.status_code} {body.get('code')}"] += 1
                    n += 1

            threads = [threading.Thread(target=loop, args=(s,)) for s in range(args.kiosks)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            rss_after, cpu_after = server.rss_kib(), cpu_seconds(server.pid)
            load = os.getloadavg()
    matches = outcomes["match"]
    errors = sum(v for k, v in outcomes.items() if k.startswith("error"))
    print(f"{args.kiosks} kiosks for {wall:.0f} s: {matches} identifications, "
          f"{matches / wall:.2f} per second; errors {errors}")  # fmt: skip
    print(f"outcomes: {dict(outcomes)}")
    if server_times:
        print(
            f"server time without the wait for a place p50 {statistics.median(work_times):.0f}"
            f" ms, p95 {percentile(work_times, 95):.0f} ms; "
            f"with it p50 {statistics.median(server_times):.0f} ms, "
            f"p95 {percentile(server_times, 95):.0f} ms; round trip (incl. the kiosk's wait for "
            f"a place) p50 {statistics.median(round_trips):.0f} ms, "
            f"p95 {percentile(round_trips, 95):.0f} ms"
        )
    attempts = sum(outcomes.values()) or 1
    print(
        f"server CPU {(cpu_after - cpu_before) / attempts:.2f} s per capture; RSS before "
        f"{rss_before / 1024:.0f} MiB, after {rss_after / 1024:.0f} MiB; load average {load}"
    )


if __name__ == "__main__":
    main()
