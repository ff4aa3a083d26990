"""`facepay demo`: the scripted main job that `make demo` runs.

It initialises a data folder, starts a real `facepay serve` on a free 127.0.0.1 port, and drives
it as an operator, a hospital admin, a cashier and a signed kiosk (facepay.demo.scenario).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from facepay.bootstrap import build_face_engine, load_settings

OPERATOR = ("operator", "demo-" + "operator-pass-2026")
IMAGES = Path(".test-data") / "images"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _facepay(*args: str) -> list[str]:
    return [sys.executable, "-c", "from facepay.cli import main; main()", *args]


@contextmanager
def running_server(data: Path, *, port: int, env: dict[str, str]) -> Iterator[str]:
    """`facepay serve` in a child process until the block ends; yields its base URL."""
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        _facepay("serve", "--data", str(data), "--port", str(port)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited; see {data / 'server.log'}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 120 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def demo(
    data: Annotated[
        Path | None, typer.Option("--data", help="Keep the data here (default: a temp folder).")
    ] = None,
    payments: Annotated[int, typer.Option(min=2, max=500, help="Face payments to time.")] = 30,
) -> None:
    """Start a server and run the scripted kiosk scenario against it."""
    from facepay.demo.report import print_report  # noqa: PLC0415 - heavy imports on demand
    from facepay.demo.scenario import run  # noqa: PLC0415

    # Piped output (CI logs) gets 120 columns so that the tables do not wrap.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    if not (IMAGES / "obama.jpg").exists():
        console.print("[red]sample photos missing[/red]: run `make test-data`")
        raise typer.Exit(code=2)
    folder = data or Path(tempfile.mkdtemp(prefix="facepay-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACEPAY_ADMIN_PASSWORD": OPERATOR[1], "FACEPAY_ENVIRONMENT": "dev"}
    env.setdefault("FACEPAY_JWT_SECRET", os.urandom(32).hex())
    env["FACEPAY_API_RATE_TERMINAL_PER_SECOND"] = "50"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")  # see `facepay serve`
    try:
        console.print(f"data folder {folder}; creating the platform operator")
        subprocess.run(  # noqa: S603
            _facepay("admin", "init", "--hospital", "Platform operator", "--username",
                     OPERATOR[0], "--data", str(folder)),
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        port = free_port()
        with running_server(folder, port=port, env=env) as url:
            console.print(f"server at {url} (OpenAPI: {url}/docs)")
            engine = build_face_engine(load_settings())
            with httpx.Client(base_url=url, timeout=60) as http:
                report = run(
                    http,
                    operator=OPERATOR,
                    engine=engine,
                    images_dir=IMAGES,
                    payments=payments,
                    console=console,
                )
                metrics = http.get("/metrics").text
        print_report(console, report, metrics)
    finally:
        if data is None:
            shutil.rmtree(folder, ignore_errors=True)
