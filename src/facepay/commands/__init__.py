"""Typer command groups of the `facepay` CLI, one module each.

An operator's mistake (a bad setting, a wrong folder, an unreachable database, a bad file) is
one line on stderr and exit code 2, never a traceback: every command raises `fail(message)`.
"""

from __future__ import annotations

import typer
from rich.console import Console


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr as one unwrapped line; return the exit (2) to raise."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)
