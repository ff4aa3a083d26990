"""`facepay terminal`: an operator's mistake is one line and exit 2, before anything slow;
`status` reads the store of a stopped agent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from facepay.cli import app
from facepay.shared.errors import ConfigurationError
from facepay.terminal.agent.runtime import loopback_address
from facepay.terminal.agent.store import AgentStore
from facepay.terminal.signing import private_key_to_pem


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "terminal.pem"
    path.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    path.chmod(0o600)
    return path


def run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, ["terminal", *args])
    return done.exit_code, done.stdout, done.stderr


def one_line_exit_2(code: int, stderr: str, needle: str) -> None:
    assert code == 2, stderr
    assert needle in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr


def agent_args(key: Path, data: Path, listen: str = "127.0.0.1:8765") -> list[str]:
    return ["run", "--server", "http://127.0.0.1:9", "--key", str(key), "--data", str(data),
            "--listen", listen, "--terminal", "trm_lobby"]  # fmt: skip


def test_a_non_loopback_listen_address_is_refused(key_file: Path, tmp_path: Path) -> None:
    for address in ("0.0.0.0:8765", "192.168.1.5:80", "kiosk.local:8765", "127.0.0.1", "[::]:1"):
        code, _, stderr = run(*agent_args(key_file, tmp_path / "agent", address))
        one_line_exit_2(code, stderr, "--listen")
    assert not (tmp_path / "agent").exists()  # refused before the folder was touched


def test_loopback_addresses_are_taken() -> None:
    assert loopback_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert loopback_address("[::1]:8765") == ("::1", 8765)
    assert loopback_address("localhost:1") == ("localhost", 1)
    with pytest.raises(ConfigurationError):
        loopback_address("127.0.0.1:70000")


def test_a_bad_key_file_is_refused(tmp_path: Path, key_file: Path) -> None:
    code, _, stderr = run(*agent_args(tmp_path / "missing.pem", tmp_path / "agent"))
    one_line_exit_2(code, stderr, "no such key file")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    garbage.chmod(0o600)
    code, _, stderr = run(*agent_args(garbage, tmp_path / "agent"))
    one_line_exit_2(code, stderr, "not an Ed25519 private key")
    key_file.chmod(0o644)
    code, _, stderr = run(*agent_args(key_file, tmp_path / "agent"))
    one_line_exit_2(code, stderr, "chmod 600")


def test_a_wrong_data_folder_is_refused(tmp_path: Path, key_file: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    code, _, stderr = run(*agent_args(key_file, a_file))
    one_line_exit_2(code, stderr, "is not a folder")
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    open_folder.chmod(0o755)
    code, _, stderr = run(*agent_args(key_file, open_folder))
    one_line_exit_2(code, stderr, "chmod 700")
    other = tmp_path / "other"
    store = AgentStore(other)
    store.pin("terminal_id", "trm_other")
    store.close()
    code, _, stderr = run(*agent_args(key_file, other))
    one_line_exit_2(code, stderr, "belongs to terminal trm_other")


def test_status_of_a_folder_that_holds_no_agent(tmp_path: Path) -> None:
    code, _, stderr = run("status", "--data", str(tmp_path / "nowhere"))
    one_line_exit_2(code, stderr, "no terminal data folder")
    as_json = CliRunner().invoke(app, ["terminal", "status", "--data", str(tmp_path), "--json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["code"] in (
        "terminal_data_open",
        "terminal_data_missing",
    )


def test_status_reads_a_stopped_agents_store(wired) -> None:
    wired.agent.keeper.refresh()
    wired.agent.store.set_meta("mode", "offline")
    code, stdout, stderr = run("status", "--data", str(wired.store.folder), "--json")
    assert code == 0, stderr
    body = json.loads(stdout)
    assert body["terminal_id"] == "trm_lobby"
    assert body["mode"] == "offline"
    assert body["outbox"] == {"depth": 0, "pending": 0, "held": 0, "synced": 0}
    assert body["limits"]["per_payment_fen"] == 50_000
    assert body["library"]["stale"] is False
    code, stdout, _ = run("status", "--data", str(wired.store.folder))
    assert code == 0
    assert "outbox: 0 waiting" in stdout
    assert oct(os.stat(wired.store.path).st_mode & 0o777) == "0o600"
