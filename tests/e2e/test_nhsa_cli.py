"""`facepay nhsa register-site` and `facepay nhsa recover` on a fresh installation: a site gets
its national code, mistakes are one line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facepay.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FACEPAY_ADMIN_PASSWORD", "cli-admin-pass-2026")
    monkeypatch.setenv("FACEPAY_OPERATOR_PASSWORD", "cli-operator-pass-2026")
    monkeypatch.setenv("FACEPAY_ENVIRONMENT", "dev")
    monkeypatch.delenv("FACEPAY_DATABASE_URL", raising=False)
    monkeypatch.delenv("FACEPAY_NHSA_URL", raising=False)
    return CliRunner()


def test_a_site_is_registered_and_mistakes_are_one_line(runner: CliRunner, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = runner.invoke(app, ["admin", "init", "--hospital", "示例医院", "--data", data])
    assert created.exit_code == 0, created.output
    site = re.search(r"hospital (hsp_\w+)", created.output)
    assert site
    args = ["nhsa", "register-site", "--site", site.group(1), "--name", "示例市第一人民医院"]
    done = runner.invoke(app, [*args, "--code", "H31010500012", "--area", "310105", "--data", data])
    assert done.exit_code == 0, done.output
    assert "H31010500012" in done.output
    bad = runner.invoke(app, [*args, "--code", "H1", "--area", "310105", "--data", data])
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "fixmedins_code" in bad.stderr
    unknown = ["nhsa", "register-site", "--site", "hsp_nope", "--name", "x", "--code",
               "H31010500013", "--area", "310105", "--data", data]  # fmt: skip
    assert runner.invoke(app, unknown).exit_code == 2
    recover = runner.invoke(app, ["nhsa", "recover", "--data", data])
    assert recover.exit_code == 2
    assert "FACEPAY_NHSA_URL" in recover.stderr
