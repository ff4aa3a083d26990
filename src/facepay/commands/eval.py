"""`facepay eval …`: evaluations. Commands register themselves on `app` from sibling modules
(`eval_pairs`, `eval_liveness`)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Evaluate face recognition and liveness on data sets.", no_args_is_help=True)
