"""FHIR read latency: `GET /fhir/R4/Patient/{id}`, `GET /fhir/R4/Invoice/{id}` and an Invoice
search page, signed by an HIS terminal (and `GET /v1/bills/{id}` as the API's own baseline), on
a real uvicorn over the embedded SQLite (WAL). The client's wall time per request (signing
included) and the server's own (`Server-Timing: app`) are reported as p50 / p95, with the load
average, since the machine is shared.

No face model is loaded (a fake engine; cards identify the patients). Before timing, the HIS
pushes `--invoices` Invoices of two ChargeItems and the patient pays half of them.

    nice -n 10 .venv/bin/python bench/fhir_read.py [--reads 300] [--invoices 40]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from facepay.api.app import create_app
from facepay.bootstrap import build_access, build_engine, build_services, build_unit_of_work
from facepay.client import StaffSession, TerminalSession, server_ms
from facepay.config import Settings
from facepay.demo.in_thread import fast_passwords, seed_operator, serve_in_thread
from facepay.demo.world import make_site
from facepay.vision.fake_engine import FakeFaceEngine

OPERATOR = ("operator", "operator-pass-2026")
FHIR = "/fhir/R4"
EXT = "https://facepay.dev/fhir/StructureDefinition"


def invoice(id_number: str, ref: str) -> dict[str, object]:
    """An outpatient Invoice of two contained ChargeItems (today, by ID number)."""
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    subject = {"identifier": {"system": "https://facepay.dev/fhir/sid/resident-id",
                              "value": id_number}}  # fmt: skip
    items = [
        {"resourceType": "ChargeItem", "id": f"c{n}", "status": "billable",
         "extension": [{"url": f"{EXT}/item-class", "valueCode": cls}],
         "code": {"coding": [{"code": code, "display": name}]}, "subject": subject,
         "occurrenceDateTime": today, "quantity": {"value": 1},
         "priceOverride": {"value": price, "currency": "CNY"}}
        for n, (code, name, cls, price) in enumerate(
            [("A-001", "阿莫西林胶囊", "A", 23.5), ("C-009", "自费检查", "C", 12)], 1
        )
    ]  # fmt: skip
    return {
        "resourceType": "Invoice", "contained": items, "identifier": [{"value": ref}],
        "status": "issued", "subject": subject,
        "type": {"coding": [{"system": "https://facepay.dev/fhir/CodeSystem/visit-type",
                             "code": "outpatient"}]},
        "extension": [{"url": f"{EXT}/hospital-tier", "valueInteger": 2}],
        "lineItem": [{"chargeItemReference": {"reference": f"#c{n}"}} for n in (1, 2)],
    }  # fmt: skip


def timed(reads: int, call: Callable[[], httpx.Response]) -> tuple[list[float], list[float]]:
    """Client wall ms and server ms of `reads` calls (each must answer 200)."""
    wall, server = [], []
    for _ in range(reads):
        start = time.perf_counter()
        response = call()
        wall.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code}: {response.text[:300]}")
        server.append(server_ms(response))
    return wall, server


def quantiles(values: list[float]) -> str:
    """`p50 x ms, p95 y ms`."""
    cuts = statistics.quantiles(values, n=20)
    return f"p50 {statistics.median(values):6.1f} ms, p95 {cuts[18]:6.1f} ms"


def main() -> None:
    """Set up a site, push and pay Invoices, time the reads, print p50 / p95."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--invoices", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facepay-bench-") as folder:
        settings = Settings(
            data_dir=Path(folder),
            api_rate_terminal_per_second=10_000.0,
            api_rate_staff_per_second=10_000.0,
        )
        database = build_engine(settings)
        uow = build_unit_of_work(settings, database)
        services = build_services(settings, face_engine=FakeFaceEngine(), uow=uow)
        passwords = fast_passwords()
        seed_operator(services, username=OPERATOR[0], password=OPERATOR[1], passwords=passwords)
        app = create_app(services, build_access(settings, storage=services, passwords=passwords))
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as http:
            operator = StaffSession.login(http, *OPERATOR)
            site = make_site(http, operator, serial=1)
            his: TerminalSession = site.add_terminal("his")
            ids = []
            for n in range(args.invoices):
                body = invoice(site.person["id_number"], f"B-{n}-{secrets.token_hex(3)}")
                made = his.request("POST", f"{FHIR}/Invoice", body)
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
                if n % 2:
                    site.pay_by_card({"id": ids[-1].replace("-", "_", 1)})
            patient = his.request("GET", f"{FHIR}/Invoice/{ids[0]}").json()["subject"]
            results = {
                "Patient read": timed(
                    args.reads, lambda: his.request("GET", f"{FHIR}/{patient['reference']}")
                ),
                "Invoice read": timed(
                    args.reads, lambda: his.request("GET", f"{FHIR}/Invoice/{ids[-1]}")
                ),
                "/v1/bills/{id} (baseline)": timed(
                    args.reads,
                    lambda: his.request("GET", f"/v1/bills/{ids[-1].replace('-', '_', 1)}"),
                ),
                "Invoice search (_count=20)": timed(
                    max(args.reads // 3, 20),
                    lambda: his.request("GET", f"{FHIR}/Invoice?status=balanced&_count=20"),
                ),
            }
        database.dispose()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"FHIR reads over HTTP, SQLite, {args.reads} reads each; load average {load}")
    for name, (wall, server) in results.items():
        print(f"  {name:28s} client {quantiles(wall)} | server {quantiles(server)}")


if __name__ == "__main__":
    main()
