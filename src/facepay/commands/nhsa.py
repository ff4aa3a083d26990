"""`facepay nhsa`: the national medical-insurance platform.

- `simulate --port P`: a platform simulator on facepay's engine (docs/nhsa.md);
- `register-site --site ID --code H… --name … --area 310105`: a site's national institution code,
  which every message from that site carries (settlement_platform=nhsa refuses a site without);
- `recover`: reverse (2601) every message whose answer never came, e.g. after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.simulator import Simulator, serve_forever
from facepay.adapters.nhsa.store import Institution, SqlAlchemyMessageLog
from facepay.bootstrap import build_nhsa_client, open_installation
from facepay.commands.serve import DataDir, settings_for
from facepay.shared.clock import SystemClock
from facepay.shared.errors import ConfigurationError, InvalidInput

app = typer.Typer(help="The national medical-insurance platform (NHSA).", no_args_is_help=True)


def _people(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        people = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"--people {path}: {error}", code="nhsa_bad_people_file") from None
    if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
        raise InvalidInput(
            f"--people {path}: a JSON list of {{certno, name, category, balance_fen}}",
            code="nhsa_bad_people_file",
        )
    return people


@app.command()
def simulate(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: a free one).")] = 8099,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    area: Annotated[
        str, typer.Option("--area", help="The platform's 6-digit area code.")
    ] = "310100",
    people: Annotated[
        Path | None,
        typer.Option(
            "--people",
            help="JSON list of insured persons: certno, name, category, "
            "balance_fen (more can be added at POST /control/people).",
        ),
    ] = None,
    control: Annotated[
        bool,
        typer.Option(
            "--control/--no-control",
            help="Serve /control/faults, /control/people and /control/state.",
        ),
    ] = True,
) -> None:
    """Run an NHSA platform simulator that settles with facepay's engine."""
    if not (len(area) == 6 and area.isdigit()):
        raise InvalidInput("--area: 6 digits", code="nhsa_bad_institution")
    platform = SimulatedPlatform(policies=shipped_policies(), clock=SystemClock(), area=area)
    for person in _people(people):
        try:
            platform.enrol(
                certno=str(person["certno"]),
                name=str(person["name"]),
                category=str(person["category"]),
                balance=int(person.get("balance_fen", 0)),
                medical_assistance=bool(person.get("medical_assistance", False)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInput(
                f"--people: {error!r} in {person}", code="nhsa_bad_people_file"
            ) from None
    simulator = Simulator(platform, control=control)

    def ready(url: str) -> None:
        typer.echo(
            f"NHSA simulator on {url} (area {area}, control {'on' if control else 'off'})", err=True
        )

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_forever(simulator, host, port, ready))
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _log(data: Path | None) -> tuple[Any, SqlAlchemyMessageLog]:
    settings = settings_for(data)
    storage = open_installation(settings)
    probe = storage.uow()
    if not isinstance(probe, SqlAlchemyUnitOfWork):  # pragma: no cover - always a database
        raise ConfigurationError("no database")
    return storage, SqlAlchemyMessageLog(probe.engine)


@app.command("register-site")
def register_site(
    site: Annotated[str, typer.Option("--site", help="The facepay site id (hsp_…).")],
    code: Annotated[str, typer.Option("--code", help="Its 12-character fixmedins_code.")],
    name: Annotated[str, typer.Option("--name", help="Its fixmedins_name.")],
    area: Annotated[str, typer.Option("--area", help="mdtrtarea_admvs (6 digits).")],
    data: DataDir = None,
) -> None:
    """Give a site its national institution code."""
    storage, log = _log(data)
    with storage.uow() as uow:
        if uow.tenants.hospital(site) is None:
            raise InvalidInput(f"--site {site}: no such site", code="nhsa_bad_institution")
    log.save_institution(Institution(site, code, name, area), at=storage.clock.now())
    typer.echo(f"{site}: {code} {name} ({area})")


@app.command()
def recover(
    older_than_minutes: Annotated[
        int, typer.Option("--older-than-minutes", min=1, help="Only messages at least this old.")
    ] = 5,
    data: DataDir = None,
) -> None:
    """Reverse (2601) the messages whose answer never came; lists each one."""
    settings = settings_for(data)
    storage, log = _log(data)
    client = build_nhsa_client(settings, engine=log.engine, clock=storage.clock)
    done = client.recover(older_than=timedelta(minutes=older_than_minutes))
    for msgid, reversed_ in done:
        typer.echo(f"{msgid}: {'reversed' if reversed_ else 'NOT reversed (try again later)'}")
    if any(not ok for _, ok in done):
        raise typer.Exit(1)
