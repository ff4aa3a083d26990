"""`facepay demo`: the scripted main job that `make demo` runs.

It initialises a data folder, starts a real `facepay serve` on a free 127.0.0.1 port, and drives
it as an operator, a hospital admin, a cashier and a signed kiosk (facepay.demo.scenario).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from facepay.bootstrap import build_face_engine, load_settings
from facepay.client import StaffSession
from facepay.demo.process import serve_process

OPERATOR = ("operator", "demo-" + "operator-pass-2026")
IMAGES = Path(".test-data") / "images"


def demo(  # noqa: PLR0917 - Typer maps each parameter to an option
    data: Annotated[
        Path | None, typer.Option("--data", help="Keep the data here (default: a temp folder).")
    ] = None,
    payments: Annotated[int, typer.Option(min=2, max=500, help="Face payments to time.")] = 30,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the day's machine-readable report (every flow's inputs and outcomes, "
            "every settlement with what it was computed from) on stdout; progress goes to "
            "stderr.",
        ),
    ] = False,
    only_day: Annotated[
        bool,
        typer.Option(
            "--only-day",
            help="Skip the kiosk scenario: only the day's flows and its outage (the outage "
            "loads the face models; without the sample photos it is skipped).",
        ),
    ] = False,
    with_outage: Annotated[
        bool,
        typer.Option(
            "--outage/--no-outage",
            help="The network outage at the pharmacy window: a terminal agent pays offline, "
            "syncs, one arrears case.",
        ),
    ] = True,
    with_his: Annotated[
        bool,
        typer.Option(
            "--his/--no-his",
            help="The hospital information system's day: ADT and DFT over MLLP and FHIR "
            "Invoices from a demo HIS, payments by face, notifications back, the nightly "
            "reconciliation clean and then with one lost message and one altered amount (on a "
            "server of its own that settles on a simulated national platform).",
        ),
    ] = True,
) -> None:
    """Start a server, run the scripted kiosk scenario, then a whole day at one hospital."""
    from facepay.demo.day import run_day  # noqa: PLC0415 - heavy imports on demand
    from facepay.demo.flows.his import HisKit  # noqa: PLC0415
    from facepay.demo.flows.outage import OutageKit  # noqa: PLC0415
    from facepay.demo.report import day_summary, print_day, print_report  # noqa: PLC0415
    from facepay.demo.scenario import run  # noqa: PLC0415

    # Piped output (CI logs) gets 120 columns so that the tables do not wrap.
    out = sys.stderr if as_json else sys.stdout
    console = Console(highlight=False, width=None if out.isatty() else 120, file=out)
    if not only_day and not (IMAGES / "obama.jpg").exists():
        console.print("[red]sample photos missing[/red]: run `make test-data`")
        raise typer.Exit(code=2)
    folder = data or Path(tempfile.mkdtemp(prefix="facepay-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = _server_env()
    log = folder.parent / f"{folder.name}-server.log"
    terminals = folder.parent / f"{folder.name}-terminals"
    his_folder = folder.parent / f"{folder.name}-his"
    skipped = _outage_skipped(with_outage=with_outage)
    his_skipped = _his_skipped(with_his=with_his)
    wanted = not only_day or not skipped or not his_skipped
    engine = build_face_engine(load_settings()) if wanted else None
    try:
        console.print(f"data folder {folder}; creating the platform operator")
        with serve_process(folder, env=env, operator=OPERATOR, log_path=log) as server:
            url = server.url
            console.print(f"server at {url} (OpenAPI: {url}/docs)")
            with httpx.Client(base_url=url, timeout=60) as http:
                report = None
                if not only_day:
                    assert engine is not None
                    report = run(
                        http,
                        operator=OPERATOR,
                        engine=engine,
                        images_dir=IMAGES,
                        payments=payments,
                        console=console,
                    )
                console.print("a day at one hospital: every flow")
                day = run_day(
                    http,
                    platform=StaffSession.login(http, *OPERATOR),
                    today=datetime.now(UTC).date(),
                    console=console,
                    outage_kit=OutageKit(engine, IMAGES, terminals)
                    if engine and not skipped
                    else None,
                    outage_skipped=skipped,
                    his_kit=HisKit(engine, IMAGES, his_folder)
                    if engine and not his_skipped
                    else None,
                    his_skipped=his_skipped,
                )
                metrics = http.get("/metrics").text
        if report is not None:
            print_report(console, report, metrics)
        print_day(console, day)
        if as_json:
            payments_seen = report.payments if report is not None else []
            kiosk = {"payments": [day_summary(p) for p in payments_seen]}
            sys.stdout.write(json.dumps({"kiosk": kiosk, "day": day}, indent=2,
                                        ensure_ascii=False) + "\n")  # fmt: skip
        if _day_failed(day):
            raise typer.Exit(code=1)
    finally:
        if data is None:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(terminals, ignore_errors=True)
            shutil.rmtree(his_folder, ignore_errors=True)
            log.unlink(missing_ok=True)


def _server_env() -> dict[str, str]:
    """The environment of the demo's `facepay serve`."""
    env = {"FACEPAY_ENVIRONMENT": "dev"}
    env["FACEPAY_JWT_SECRET"] = os.environ.get("FACEPAY_JWT_SECRET") or os.urandom(32).hex()
    env["FACEPAY_API_RATE_TERMINAL_PER_SECOND"] = "50"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = os.environ.get(var, "1")  # see `facepay serve`
    return env


def _day_failed(day: dict[str, Any]) -> bool:
    """Whether the day's money, outage or HIS walk came out other than it must."""
    return bool(
        day["recomputed"]["differences"]
        or day["outage"].get("agree") is False
        or day["his"].get("as_expected") is False
    )


def _outage_skipped(*, with_outage: bool) -> str:
    """Why the outage will not run ("" when it will)."""
    if not with_outage:
        return "--no-outage"
    if not (IMAGES / "obama.jpg").exists():
        return "the sample photos are missing (`make test-data`)"
    return ""


def _his_skipped(*, with_his: bool) -> str:
    """Why the HIS walk will not run ("" when it will)."""
    if not with_his:
        return "--no-his"
    if not (IMAGES / "obama.jpg").exists():
        return "the sample photos are missing (`make test-data`)"
    return ""
