"""Pick-up of medicines by face, end to end over HTTP: a real `facepay serve` (the real dlib
models) on SQLite, or on PostgreSQL (embedded) with `--backend postgresql`.

One hospital; patient A (Obama) enrolled at its kiosk from a live capture; a pharmacy window
terminal and a pharmacist. Each sample: the HIS posts a bill with two drug lines and A pays it by
card at the kiosk (not timed: it is what makes the dispensing order); then, timed, at the window:

1. challenge   - `POST /v1/liveness/challenges` (the window terminal, signed)
2. capture     - the synthetic patient answering it, frames JPEG-encoded (the terminal's work:
                 here rendering from a still photo; a real camera films for the challenge's own
                 length instead, printed below)
3. verify 1:1  - `POST /v1/identifications/verify` with person_ids = [the order's patient]
4. collection  - the pharmacist's `POST /v1/dispensing-orders/{id}/collection` (everything)

A capture refused by liveness (`liveness_retry`/`liveness_spoof`) is filmed again, as a kiosk
does, up to 5 times; the retakes' time counts in steps 1-3 and in the whole pick-up. Client time
is the wall time of each call as the terminal sees it; server time is the server's own
`Server-Timing: app` (for verify also `queue`, the wait for a capture slot). The client shares
the 2 cores with the server: rendering a capture competes with the server's liveness checks.

    nice -n 10 .venv/bin/python bench/pickup.py [--samples 20] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported (see facepay serve)

import httpx  # noqa: E402

from facepay.bootstrap import build_face_engine  # noqa: E402
from facepay.client import StaffSession, TerminalSession, server_ms  # noqa: E402
from facepay.config import Settings  # noqa: E402
from facepay.demo import kiosk  # noqa: E402
from facepay.demo.captures import capture_body, challenge_of, live_capture  # noqa: E402
from facepay.demo.process import OPERATOR_PASSWORD, serve_process  # noqa: E402
from facepay.demo.scenario import STAFF_PASSWORD, expect  # noqa: E402
from facepay.demo.world import Site, make_site  # noqa: E402
from facepay.terminal.capture import duration  # noqa: E402
from facepay.terminal.kiosk import RETAKES  # noqa: E402
from facepay.vision.image import load_image  # noqa: E402
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from settle import with_postgres  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / ".test-data" / "images"
ATTEMPTS = 5
WINDOW = "W1"
STEPS = ("challenge", "capture", "verify 1:1", "collection")
ENV = {
    "FACEPAY_ENVIRONMENT": "test",
    "FACEPAY_JWT_SECRET": "bench-jwt-k3y-" + "Pk8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay",
    "FACEPAY_GALLERY_BACKEND": "memory",
    "FACEPAY_API_RATE_TERMINAL_PER_SECOND": "10000",
    "FACEPAY_API_RATE_TERMINAL_BURST": "10000",
    "FACEPAY_API_RATE_STAFF_PER_SECOND": "10000",
    "FACEPAY_API_RATE_STAFF_BURST": "10000",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass
class Sample:
    """One pick-up: client and server milliseconds per step, the whole, the retakes."""

    client: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    server: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    queue_ms: float = 0.0
    whole_ms: float = 0.0
    filming_s: float = 0.0
    retakes: int = 0


def main() -> None:
    """Serve, enrol, run `--samples` pick-ups, print the figures with the load average."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    engine = build_face_engine(Settings())  # the client's, to animate the photo
    face = subjects_from_photo(engine, load_image(IMAGES / "obama2.jpg"), "obama", "obama")[0]
    if args.backend == "postgresql":
        with_postgres(lambda url: run(args, face, {**ENV, "FACEPAY_DATABASE_URL": url}))
    else:
        run(args, face, ENV)


def run(args: argparse.Namespace, face: Subject, env: dict[str, str]) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="facepay-pickup-") as folder,
        serve_process(Path(folder) / "data", env=env, workers=args.workers, timeout=300) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=31)
        enrolled = kiosk.enrol(
            site.kiosk,
            site.person,
            load_image(IMAGES / "obama.jpg"),
            face,
            seed=1,
            attempts=ATTEMPTS,
        )
        expect(enrolled, 201)
        window = _window(site, http)
        pharmacist = _pharmacist(site, http)
        print(f"{args.backend}: {args.samples} pick-ups at the window ...", flush=True)
        samples: list[Sample] = []
        failed: list[str] = []
        for n in range(args.samples):
            order = _paid_order(site, window)
            try:
                samples.append(_pick_up(window, pharmacist, face, order, seed=100 + 10 * n))
            except PickUpError as error:
                failed.append(str(error))
    _report(args, samples, failed)


class PickUpError(Exception):
    """A pick-up that did not end with the medicines handed over."""


def _pick_up(
    window: TerminalSession,
    pharmacist: StaffSession,
    face: Subject,
    order: dict[str, Any],
    *,
    seed: int,
) -> Sample:
    sample = Sample()

    def timed(step: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        began = time.perf_counter()
        response = call()
        sample.client[step] += (time.perf_counter() - began) * 1000
        sample.server[step] += server_ms(response)
        return response

    began = time.perf_counter()
    for attempt in range(ATTEMPTS):
        issued = timed("challenge", lambda: window.request("POST", "/v1/liveness/challenges"))
        if issued.status_code != 201:
            raise PickUpError(f"challenge: HTTP {issued.status_code}")
        rendering = time.perf_counter()
        challenge = challenge_of(issued.json())
        body = {
            "capture": capture_body(live_capture(face, challenge, seed=seed + attempt)),
            "person_ids": [order["person_id"]],
        }
        sample.client["capture"] += (time.perf_counter() - rendering) * 1000
        sample.filming_s += duration(challenge)
        verified = timed(
            "verify 1:1",
            lambda: window.request("POST", "/v1/identifications/verify", body),  # noqa: B023
        )
        sample.queue_ms += server_ms(verified, "queue")
        if verified.status_code != 422 or verified.json().get("code") not in RETAKES:
            break
        sample.retakes += 1
    found = verified.json()
    if verified.status_code != 201 or found.get("decision") != "match":
        raise PickUpError(f"verify: HTTP {verified.status_code} {found.get('code', found)}")
    path = f"/v1/dispensing-orders/{order['id']}/collection"
    collected = timed(
        "collection",
        lambda: pharmacist.request("POST", path, {"identification_id": found["identification_id"]}),
    )
    sample.whole_ms = (time.perf_counter() - began) * 1000
    if collected.status_code != 201 or collected.json()["order"]["status"] != "done":
        raise PickUpError(f"collection: HTTP {collected.status_code} {collected.text[:120]}")
    return sample


def _paid_order(site: Site, window: TerminalSession) -> dict[str, Any]:
    """A bill with two drug lines for the window, paid by card at the kiosk: its order."""
    lines = [
        {"code": "D1", "name": "amlodipine 5 mg", "item_class": "A", "unit_price": 1_250,
         "quantity": "2", "kind": "drug", "window": WINDOW},
        {"code": "D2", "name": "vitamin C", "item_class": "C", "unit_price": 700,
         "quantity": "1", "kind": "drug", "window": WINDOW},
    ]  # fmt: skip
    body = {
        "external_ref": f"RX-{secrets.token_hex(6)}",
        "id_number": site.person["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": datetime.now(UTC).date().isoformat(),
        "lines": lines,
    }
    bill = expect(site.cashier.request("POST", "/v1/bills", body), 201)
    site.pay_by_card(bill)
    queue = expect(window.request("GET", f"/v1/pharmacy/windows/{WINDOW}/queue"), 200)
    order: dict[str, Any] = next(o for o in queue["orders"] if o["bill_id"] == bill["id"])
    return order


def _window(site: Site, http: httpx.Client) -> TerminalSession:
    made = expect(
        site.admin.request("POST", "/v1/terminals", {"name": "w1", "kind": "window"}), 201
    )
    return TerminalSession.from_pem(http, made["id"], made["private_key_pem"])


def _pharmacist(site: Site, http: httpx.Client) -> StaffSession:
    name = f"pharmacist-{secrets.token_hex(3)}"
    body = {"username": name, "password": STAFF_PASSWORD, "role": "pharmacist"}
    expect(site.admin.request("POST", "/v1/staff", body), 201)
    return StaffSession.login(http, name, STAFF_PASSWORD)


def _figures(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    return f"{statistics.median(ordered):7.0f} {p95:7.0f} {ordered[-1]:7.0f}"


def _report(args: argparse.Namespace, samples: list[Sample], failed: list[str]) -> None:
    load = os.getloadavg()
    retakes = sum(s.retakes for s in samples)
    print(
        f"pick-up by face over HTTP, {args.backend}, {args.workers} worker(s): "
        f"{len(samples)} picked up, {len(failed)} failed, {retakes} liveness retake(s)"
    )
    for reason in failed:
        print(f"  failed: {reason}")
    if not samples:
        return
    print(f"  {'ms':<28} {'client p50':>10} {'p95':>7} {'max':>7}   {'server p50':>10} "
          f"{'p95':>7} {'max':>7}")  # fmt: skip
    for step in STEPS:
        client = _figures([s.client[step] for s in samples])
        server = (
            "   (the terminal's work)"
            if step == "capture"
            else "   " + _figures([s.server[step] for s in samples])
        )
        print(f"  {step:<28} {client:>26}{server}")
    print(f"  {'  verify: waiting for a slot':<28} {'':>26}   "
          f"{_figures([s.queue_ms for s in samples])}")  # fmt: skip
    server_total = [sum(s.server[x] for x in STEPS) for s in samples]
    print(f"  {'whole pick-up':<28} {_figures([s.whole_ms for s in samples]):>26}   "
          f"{_figures(server_total)}")  # fmt: skip
    filming = statistics.median(s.filming_s for s in samples)
    print(f"  a real camera films for the challenge's length instead: p50 {filming:.1f} s "
          f"per pick-up (add it to the whole for the patient's wall time)")  # fmt: skip
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
