"""Typer command groups of the `facepay` CLI, one module each.

An operator's mistake (a bad setting, a wrong folder, an unreachable database, a bad file) is
one line on stderr and exit code 2, never a traceback. A command either raises `fail(message)`
or lets a `FacepayError` escape: `OperatorErrors`, the root group, turns it into that line, or
into `{"error": {"code": ..., "message": ...}}` on stdout when the command was given `--json`.

Exit codes: 0 done; 1 the command ran and its answer is "no" (a non-match, a broken audit
chain, quarantined templates); 2 the operator must fix something first.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from facepay.shared.errors import ConfigurationError, FacepayError

EXIT_REFUSED = 2
JSON_FLAG = "--json"


def fail(message: str, *, code: str = "configuration_error", as_json: bool = False) -> typer.Exit:
    """Print `error: message` on stderr as one unwrapped line (or a JSON error object on
    stdout); return the exit (2) to raise."""
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "message": message}}, sort_keys=True))
    else:
        console = Console(stderr=True, soft_wrap=True, highlight=False)
        console.print("[red]error:[/red] " + escape(message), markup=True)
    return typer.Exit(code=EXIT_REFUSED)


class OperatorErrors(TyperGroup):
    """The root command group: a `FacepayError` from any command is one line and exit 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Remember whether the command line asked for JSON output."""
        ctx.meta["facepay.json"] = JSON_FLAG in args
        parsed: list[str] = super().parse_args(ctx, args)
        return parsed

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report an operator's mistake without a traceback."""
        try:
            return super().invoke(ctx)
        except FacepayError as error:
            as_json = bool(ctx.meta.get("facepay.json"))
            raise fail(error.message, code=error.code, as_json=as_json) from None
        except PermissionError as error:
            as_json = bool(ctx.meta.get("facepay.json"))
            what = error.filename or "a file"
            refused = ConfigurationError(
                f"permission denied on {what}: run facepay as the user that owns the data "
                "folder (e.g. `sudo install -d -m 700 -o $USER /var/lib/facepay`)",
                code="file_permission_denied",
            )
            raise fail(refused.message, code=refused.code, as_json=as_json) from None
