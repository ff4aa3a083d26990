"""`facepay serve`: the HTTP API on uvicorn (embedded SQLite + FAISS under --data by default)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from facepay import __version__
from facepay.bootstrap import (
    build_access,
    build_services,
    load_settings,
    masked_url,
    open_installation,
)
from facepay.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc <malloc.h>
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data folder (SQLite file, sealed gallery, template key), the same for every "
        "command: default FACEPAY_DATA_DIR, else ./facepay-data. FACEPAY_DATABASE_URL selects "
        "PostgreSQL instead of the SQLite file.",
    ),
]


def tune_malloc() -> None:
    """Let freed frames go back to the system (glibc only; a no-op elsewhere).

    glibc serves a large allocation by mmap and, once it is freed, raises its mmap threshold to
    that size, so the next frames of that size come from the heap, where freeing them leaves the
    process as big as before (`RSS stays high after a burst`). A fixed threshold keeps every
    frame-sized buffer in its own mapping, returned on free; two arenas per process stop each
    thread of the pool from keeping an arena of its own.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    libc.mallopt(M_ARENA_MAX, 2)


def settings_for(data: Path | None) -> Settings:
    """Settings from the environment, with `--data` taking precedence when given."""
    return load_settings(data)


def banner(settings: Settings, *, host: str, port: int, workers: int = 1) -> list[str]:
    """What `serve` prints before it listens: enough to tell which installation is running."""
    processes = "1 process" if workers == 1 else f"{workers} processes"
    lines = [
        f"facepay {__version__}",
        f"  data folder   {settings.data_dir.resolve()}",
        f"  database      {masked_url(settings.resolved_database_url())}",
        f"  environment   {settings.environment}",
        f"  workers       {processes}; {settings.resolved_detectors()} face detector(s), "
        f"{settings.resolved_concurrent_captures()} capture(s) at once each",
        f"  listening on  http://{host}:{port} (API docs /docs, metrics /metrics)",
    ]
    if settings.environment == "dev":
        lines.append(
            "  warning: dev environment: liveness refusals show their checks and scores to "
            "every caller; set FACEPAY_ENVIRONMENT=production for patients"
        )
    if "jwt_secret" not in settings.model_fields_set:
        lines.append(
            "  warning: dev mode without FACEPAY_JWT_SECRET: staff tokens are signed with a "
            "random key and stop working when the server restarts"
        )
    return lines


def serve(
    data: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes on this port. Each loads the face models and the gallery; "
            "they share everything else through the database, as do `facepay serve` processes "
            "on other machines using the same FACEPAY_DATABASE_URL.",
        ),
    ] = 1,
) -> None:
    """Run the facepay HTTP API (OpenAPI at /docs, metrics at /metrics)."""
    if any(var not in os.environ for var in THREAD_POOLS):
        # NumPy's BLAS/OpenMP pools are sized when NumPy loads (already, by the CLI's imports);
        # one thread per pool made a payment ~5x cheaper on a shared 2-core machine
        # (bench/payment.py), so start again with them pinned unless the operator chose.
        env = {**os.environ, **dict.fromkeys(THREAD_POOLS, "1")}
        code = "from facepay.cli import main; main()"
        os.execve(sys.executable, [sys.executable, "-c", code, *sys.argv[1:]], env)  # noqa: S606
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from facepay.api.logging import configure_logging  # noqa: PLC0415

    configure_logging()
    tune_malloc()
    os.umask(0o077)  # whatever the server writes (database journals, gallery) is its own
    settings = settings_for(data)
    console = Console(highlight=False, soft_wrap=True)
    if workers > 1:
        open_installation(settings)  # an operator's mistake is one line here, not N tracebacks
        # The worker processes read their settings from the environment, --data included.
        os.environ["FACEPAY_DATA_DIR"] = str(settings.data_dir.resolve())
        for line in banner(settings, host=host, port=port, workers=workers):
            console.print(line, markup=False)
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
        return
    app = create_app_for(settings)
    for line in banner(settings, host=host, port=port):
        console.print(line, markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def create_app_for(settings: Settings) -> FastAPI:
    """The API of the installation `settings` name: its services and access, from bootstrap."""
    from facepay.api.app import create_app  # noqa: PLC0415

    services = build_services(settings, storage=open_installation(settings))
    return create_app(services, build_access(settings, storage=services))


def worker_app() -> FastAPI:
    """The app of one `--workers` process (uvicorn calls it in each one it starts)."""
    from facepay.api.logging import configure_logging  # noqa: PLC0415

    configure_logging()
    tune_malloc()
    os.umask(0o077)
    return create_app_for(load_settings())
