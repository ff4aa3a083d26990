"""`facepay serve`: the HTTP API on uvicorn (embedded SQLite + FAISS under --data by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facepay.bootstrap import build_services
from facepay.config import Settings

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data folder (SQLite file, sealed gallery, template key); default ./facepay-data "
        "or FACEPAY_DATA_DIR. FACEPAY_DATABASE_URL selects PostgreSQL instead of SQLite.",
    ),
]


def settings_for(data: Path | None) -> Settings:
    """Settings from the environment, with `--data` taking precedence when given."""
    return Settings(data_dir=data) if data is not None else Settings()


def serve(
    data: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Run the facepay HTTP API (OpenAPI at /docs, metrics at /metrics)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from facepay.api.app import create_app  # noqa: PLC0415
    from facepay.api.logging import configure_logging  # noqa: PLC0415

    configure_logging()
    services = build_services(settings_for(data))
    app = create_app(services)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
