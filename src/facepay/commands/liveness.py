"""`facepay liveness …`: presentation-attack detection on captured frames."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check captures for liveness (photo, replay and mask attacks).")
