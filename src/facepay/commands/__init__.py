"""Typer command groups of the `facepay` CLI, one module each."""
