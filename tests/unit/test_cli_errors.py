"""The CLI's root group turns an operator's mistake into one line and exit 2, whatever the text
holds and wherever the mistake was raised (a command that raises, not only one that calls fail)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from facepay.commands import OperatorErrors
from facepay.shared.errors import ConfigurationError

app = typer.Typer(cls=OperatorErrors)


@app.command()
def markup(as_json: bool = typer.Option(False, "--json")) -> None:
    raise ConfigurationError("no file /srv/[/x]/[bold]card.json", code="bad_setting")


@app.command()
def denied() -> None:
    raise PermissionError(13, "Permission denied", "/var/lib/facepay/template.key")


def test_brackets_in_a_message_are_printed_as_they_are() -> None:
    """Rich read them as markup: `[/x]` raised MarkupError (a traceback), `[bold]` vanished."""
    done = CliRunner().invoke(app, ["markup"])
    assert done.exit_code == 2
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert "no file /srv/[/x]/[bold]card.json" in done.stderr
    as_json = CliRunner().invoke(app, ["markup", "--json"])
    assert json.loads(as_json.stdout)["error"]["code"] == "bad_setting"


def test_a_permission_error_is_one_line_naming_the_file() -> None:
    done = CliRunner().invoke(app, ["denied"])
    assert done.exit_code == 2
    assert "permission denied on /var/lib/facepay/template.key" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
