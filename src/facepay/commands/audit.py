"""`facepay audit verify`: re-hash the audit chain and report the first broken entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facepay.bootstrap import build_services
from facepay.commands.serve import DataDir, settings_for
from facepay.services.audit import verify_audit
from facepay.supervision.audit import VerifyReport

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def verify_database(data: Path | None) -> VerifyReport:
    """Verify the chain stored in the configured database."""
    return verify_audit(ctx=build_services(settings_for(data)))


@app.command("verify")
def verify(
    data: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Exit 0 if every entry hashes and links correctly, 1 at the first edited or missing one."""
    report = verify_database(data)
    if as_json:
        typer.echo(json.dumps(report.__dict__, sort_keys=True))
    else:
        console = Console(highlight=False)
        if report.ok:
            console.print(f"[green]audit chain intact[/green]: {report.entries_checked} entries")
        else:
            console.print(
                f"[red]audit chain broken[/red] at entry {report.first_bad_seq}: "
                f"{report.problem} ({report.detail})"
            )
    raise typer.Exit(code=0 if report.ok else 1)
