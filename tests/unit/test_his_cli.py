"""`facepay his listen`: an operator's mistake is one line and exit 2, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from facepay.cli import app


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--mllp", "2575", "--site", "h1"], "--mllp '2575': HOST:PORT"),
        (["--mllp", "0.0.0.0:99999", "--site", "h1"], "HOST:PORT"),
        (["--mllp", "127.0.0.1:0", "--site", "h1", "--allow", "10.0.0.0/33"], "--allow"),
        (["--mllp", "127.0.0.1:0", "--site", "h1", "--notify", "his"], "--notify 'his'"),
        (["--mllp", "127.0.0.1:0", "--site", "h1", "--notify-charset", "EBCDIC"], "EBCDIC"),
        (["--mllp", "127.0.0.1:0", "--site", "h1"], "not initialised"),
    ],
)
def test_operator_mistakes_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["his", "listen", *args, "--data", str(tmp_path / "none")])
    assert done.exit_code == 2, done.output
    assert says in done.stderr
    assert "Traceback" not in done.stderr
