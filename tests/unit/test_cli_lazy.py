"""The root command imports a command's module only when that command runs: a terminal or a
kiosk command starts without the database layer and the server stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from facepay.cli import LazyCommands, app, load_command

PROBE = """
import sys
from facepay.cli import load_command
load_command({name!r})
heavy = [m for m in ("facepay.bootstrap", "sqlalchemy", "fastapi", "faiss") if m in sys.modules]
print(",".join(heavy))
"""


@pytest.mark.parametrize("name", ["terminal", "kiosk"])
def test_a_terminal_or_kiosk_command_loads_without_the_server_stack(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(name=name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "", f"facepay {name} imported {done.stdout.strip()}"


def test_every_command_loads_with_its_name_and_help() -> None:
    root = typer_root()
    for name in root.list_commands(None):
        command = load_command(name)
        assert command.name == name
        assert command.help or command.short_help, name
    assert root.get_command(None, "no-such-command") is None


def test_groups_carry_the_commands_other_modules_add() -> None:
    assert "rotate-key" in load_command("admin").commands  # type: ignore[attr-defined]
    assert {"pairs", "liveness"} <= set(load_command("eval").commands)  # type: ignore[attr-defined]


def typer_root() -> LazyCommands:
    import typer  # noqa: PLC0415

    root = typer.main.get_command(app)
    assert isinstance(root, LazyCommands)
    return root
