"""The `facepay` command line. Each command group lives in `facepay.commands`; this module wires
them together and calls bootstrap + services only."""

from __future__ import annotations

import typer

from facepay.commands import face

app = typer.Typer(
    name="facepay",
    help="Face-recognition identity and payment for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(face.app, name="face")


def main() -> None:
    """Entry point of the `facepay` script."""
    app()
