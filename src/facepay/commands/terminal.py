"""`facepay terminal run` and `facepay terminal status`: the terminal agent (docs/terminal.md).

`run` owns the terminal's identity, talks to the server, takes face payments offline within the
server's signed limits and serves the local API on a loopback address. `status` reads the
agent's store directly, so it works while the agent is stopped.

Exit codes: 0 done; 2 a mistake to fix first (a wrong data folder, a bad key file, a
non-loopback --listen, another agent on the same folder).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facepay.terminal.agent.store import AgentStore

if TYPE_CHECKING:
    pass

app = typer.Typer(help="The terminal agent: edge vision, offline payment, exactly-once sync.")

Data = Annotated[Path, typer.Option("--data", help="The agent's own data folder (0700).")]


@app.command()
def run(
    server: Annotated[str, typer.Option(help="The facepay server's URL.")],
    key: Annotated[Path, typer.Option("--key", help="The terminal's private key (PEM, 0600).")],
    data: Data,
    listen: Annotated[
        str, typer.Option(help="Loopback HOST:PORT of the local API.")
    ] = "127.0.0.1:8765",
    terminal: Annotated[
        str | None,
        typer.Option(
            envvar="FACEPAY_TERMINAL_ID", help="The terminal's id (first start; then kept)."
        ),
    ] = None,
) -> None:
    """Run the terminal agent until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn  # noqa: PLC0415 - only for run

    from facepay.terminal.agent.api import create_app  # noqa: PLC0415
    from facepay.terminal.agent.failpoints import failpoints_from  # noqa: PLC0415
    from facepay.terminal.agent.runtime import (  # noqa: PLC0415
        loopback_address,
        machine_clock,
        open_agent,
    )

    host, port = loopback_address(listen)
    running = open_agent(
        server=server,
        key_file=key,
        data=data,
        terminal=terminal,
        vision=_vision,
        clock=machine_clock(os.environ),
        failpoints=failpoints_from(os.environ),
    )
    agent = running.agent
    stop = threading.Event()
    worker = threading.Thread(target=agent.run, args=(stop,), name="facepay-sync", daemon=True)
    worker.start()
    typer.echo(
        f"facepay terminal agent: terminal {agent.terminal_id}, server {server}, data "
        f"{agent.store.folder}, local API http://{host}:{port}",
        err=True,
    )
    try:
        uvicorn.run(create_app(agent), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        worker.join(timeout=30)
        running.close()


def _vision():  # type: ignore[no-untyped-def]
    from facepay.bootstrap import build_face_engine, load_settings  # noqa: PLC0415 - slow
    from facepay.terminal.agent.vision import LocalVision  # noqa: PLC0415

    return LocalVision(build_face_engine(load_settings()))


@app.command()
def status(
    data: Data,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """The agent's status from its store (works while the agent is stopped)."""
    from facepay.terminal.agent.status import read_status  # noqa: PLC0415

    store = AgentStore(data, create=False)
    try:
        body = read_status(store, now=datetime.now(UTC))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(body, sort_keys=True))
        return
    outbox = body["outbox"]
    lines = [
        f"terminal {body['terminal_id']}: last known mode {body['mode']}",
        f"outbox: {outbox['depth']} waiting ({outbox['held']} held), {outbox['synced']} synced;"
        f" oldest waiting {body['oldest_unsynced_age_seconds']} s",
        f"library {body['library']['version']}: fetched {body['library']['age_seconds']} s ago"
        + (" (STALE)" if body["library"]["stale"] else ""),
        f"limits: {json.dumps(body['limits'], sort_keys=True)}",
        f"last error: {body['last_error']}",
    ]
    typer.echo("\n".join(lines))
