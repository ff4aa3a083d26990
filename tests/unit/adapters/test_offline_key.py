"""The offline signing key file: made 0600 on first use, the same key for every reader of the
file (two servers given one file sign alike), refused when other users can read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from facepay.adapters.offline_key import load_or_create_offline_signing_key
from facepay.shared.errors import ConfigurationError
from facepay.terminal.protocol import ed25519_public_raw


def test_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "offline-signing.key"
    first = load_or_create_offline_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size == 32
    second = load_or_create_offline_signing_key(path)
    assert ed25519_public_raw(first) == ed25519_public_raw(second)


def test_a_readable_or_wrong_sized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "offline-signing.key"
    load_or_create_offline_signing_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError) as readable:
        load_or_create_offline_signing_key(path)
    assert readable.value.code == "insecure_offline_signing_key"
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError) as short:
        load_or_create_offline_signing_key(path)
    assert short.value.code == "bad_offline_signing_key"
