"""The `facepay` command line. Each command group lives in `facepay.commands`; this module wires
them together and calls bootstrap + services only.

A command's module is imported only when that command runs: `facepay terminal run` on a kiosk
or `facepay kiosk keygen` need neither the database layer nor the server, and importing every
command made each of them pay ~2 s of CPU for the whole server stack at every start (a real
cost for terminals restarting after a crash, and for the test suite's hundreds of children).
`facepay --help` still lists them all (it imports each to read its help).
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

from facepay.commands import OperatorErrors

if TYPE_CHECKING:
    from typer._click import Command  # Typer 0.29 carries its own click: its commands are these


class _Entry(NamedTuple):
    module: str
    attribute: str
    """A `typer.Typer` (a group) or a function (a single command)."""
    extras: tuple[str, ...] = ()
    """Modules that add commands to the group when imported."""


_COMMANDS: dict[str, _Entry] = {
    "admin": _Entry("facepay.commands.admin", "app", ("facepay.commands.operations",)),
    "audit": _Entry("facepay.commands.audit", "app"),
    "capture": _Entry("facepay.commands.kiosk", "capture"),
    "demo": _Entry("facepay.commands.demo", "demo"),
    "eval": _Entry(
        "facepay.commands.eval",
        "app",
        ("facepay.commands.eval_pairs", "facepay.commands.eval_liveness"),
    ),
    "face": _Entry("facepay.commands.face", "app"),
    "his": _Entry("facepay.commands.his", "app"),
    "kiosk": _Entry("facepay.commands.kiosk", "app"),
    "liveness": _Entry("facepay.commands.liveness", "app"),
    "nhsa": _Entry("facepay.commands.nhsa", "app"),
    "reconcile": _Entry("facepay.commands.reconcile", "reconcile"),
    "serve": _Entry("facepay.commands.serve", "serve"),
    "settle": _Entry("facepay.commands.settle", "settle"),
    "terminal": _Entry("facepay.commands.terminal", "app"),
}


@functools.cache
def load_command(name: str) -> Command:
    """The click command `facepay NAME` runs, its module imported now."""
    entry = _COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    for extra in entry.extras:
        importlib.import_module(extra)
    if isinstance(target, typer.Typer):
        command: Command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(OperatorErrors):
    """The root group: knows its commands by name, imports one when it is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command's name."""
        return sorted(_COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Command | None:
        """The command, imported on first use (None: no such command)."""
        return load_command(cmd_name) if cmd_name in _COMMANDS else None


app = typer.Typer(
    name="facepay",
    help="Face-recognition identity and payment for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)


@app.callback()
def _logs_to_stderr() -> None:
    """Log lines go to stderr, as JSON, warnings and up (`facepay serve` logs every request at
    info): stdout is the command's own output, which `--json` keeps machine-readable."""
    from facepay.api.logging import configure_logging  # noqa: PLC0415 - structlog, once

    configure_logging(level=logging.WARNING)


def main() -> None:
    """Entry point of the `facepay` script."""
    app()
