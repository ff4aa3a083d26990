"""`facepay audit verify`: re-hash every audit chain and report the first broken entry.

It reads the database only: no face model, gallery or template key is loaded, so a damaged
template or a wrong key never makes the audit look broken.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facepay.bootstrap import open_installation
from facepay.commands.serve import DataDir, settings_for
from facepay.services.audit import AuditVerification, verify_audit

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def verify_database(data: Path | None) -> AuditVerification:
    """Verify every chain stored in the configured database."""
    return verify_audit(ctx=open_installation(settings_for(data)))


@app.command("verify")
def verify(
    data: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Exit 0 if every entry of every chain hashes and links correctly, 1 at the first bad one."""
    report = verify_database(data)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
    else:
        console = Console(highlight=False)
        if report.ok:
            console.print(
                f"[green]audit chains intact[/green]: {report.entries_checked} entries in "
                f"{len(report.chains)} chain(s)"
            )
        else:
            console.print(
                f"[red]audit chain {report.chain} broken[/red] at entry {report.first_bad_seq}: "
                f"{report.problem} ({report.detail})"
            )
    raise typer.Exit(code=0 if report.ok else 1)
