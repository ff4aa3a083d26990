"""`facepay face …`: detection, quality and 1:1 verification on image files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Detect faces and verify two photos (1:1).", no_args_is_help=True)
