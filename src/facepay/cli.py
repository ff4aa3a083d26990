"""The `facepay` command line. Each command group lives in `facepay.commands`; this module wires
them together and calls bootstrap + services only."""

from __future__ import annotations

import logging

import typer

from facepay.api.logging import configure_logging
from facepay.commands import (
    OperatorErrors,
    admin,
    audit,
    demo,
    eval_liveness,
    eval_pairs,
    face,
    kiosk,
    liveness,
    nhsa,
    serve,
    settle,
    terminal,
)
from facepay.commands import eval as eval_commands
from facepay.commands import operations as _operations  # noqa: F401 - admin commands

app = typer.Typer(
    name="facepay",
    help="Face-recognition identity and payment for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OperatorErrors,
)
app.add_typer(face.app, name="face")
app.add_typer(eval_commands.app, name="eval")
app.add_typer(liveness.app, name="liveness")
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(kiosk.app, name="kiosk")
app.add_typer(terminal.app, name="terminal")
app.add_typer(nhsa.app, name="nhsa")
app.command("capture")(kiosk.capture)
# Single commands: each module defines a function named after the command (added when it exists).
for module, name in ((settle, "settle"), (demo, "demo"), (serve, "serve")):
    command = getattr(module, name, None)
    if command is not None:
        app.command(name)(command)

_ = (eval_pairs, eval_liveness)  # imported for the commands they register on `eval`


@app.callback()
def _logs_to_stderr() -> None:
    """Log lines go to stderr, as JSON, warnings and up (`facepay serve` logs every request at
    info): stdout is the command's own output, which `--json` keeps machine-readable."""
    configure_logging(level=logging.WARNING)


def main() -> None:
    """Entry point of the `facepay` script."""
    app()
