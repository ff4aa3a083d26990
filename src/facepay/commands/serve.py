"""`facepay serve`: the HTTP API on uvicorn (embedded SQLite + FAISS under --data by default)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from facepay.bootstrap import build_services
from facepay.commands import fail
from facepay.config import Settings
from facepay.shared.errors import FacepayError

THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc <malloc.h>
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data folder (SQLite file, sealed gallery, template key); default ./facepay-data "
        "or FACEPAY_DATA_DIR. FACEPAY_DATABASE_URL selects PostgreSQL instead of SQLite.",
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
    return Settings(data_dir=data) if data is not None else Settings()


def serve(
    data: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
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

    from facepay.api.app import create_app  # noqa: PLC0415
    from facepay.api.logging import configure_logging  # noqa: PLC0415

    configure_logging()
    tune_malloc()
    os.umask(0o077)  # whatever the server writes (database journals, gallery) is its own
    try:
        services = build_services(settings_for(data))
    except FacepayError as error:
        raise fail(error.message) from None
    app = create_app(services)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
