"""The template keyring: the current key seals, the key being retired still opens, the files are
re-read when a rotation switches them, and every key file keeps the 0600 rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facepay.adapters import crypto
from facepay.adapters.crypto import (
    TemplateKeyring,
    TemplateSealer,
    new_key,
    next_key_file,
    previous_key_file,
    read_key_file,
    write_key_file,
)
from facepay.shared.errors import InvalidInput

MODEL = "dlib-resnet-v1"
TEMPLATE = bytes(range(256)) * 2


def _seal(sealer: TemplateSealer | TemplateKeyring, template_id: str = "t-1") -> bytes:
    return sealer.seal(TEMPLATE, template_id=template_id, model_version=MODEL)


def _open(
    sealer: TemplateSealer | TemplateKeyring, sealed: bytes, template_id: str = "t-1"
) -> bytes:
    return sealer.open(sealed, template_id=template_id, model_version=MODEL)


def test_a_new_keyring_makes_its_key_file_0600(tmp_path: Path) -> None:
    ring = TemplateKeyring(tmp_path / "template.key")
    assert os.stat(tmp_path / "template.key").st_mode & 0o777 == 0o600
    assert ring.key_ids == (ring.key_id,)
    assert _open(ring, _seal(ring)) == TEMPLATE
    assert "key=" not in repr(ring)
    assert repr(read_key_file(tmp_path / "template.key")) not in repr(ring)


def test_without_create_a_missing_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TemplateKeyring(tmp_path / "template.key", create=False)
    assert not (tmp_path / "template.key").exists()


def test_it_opens_under_the_key_being_retired_and_seals_under_the_current(
    tmp_path: Path,
) -> None:
    path = tmp_path / "template.key"
    old, new = new_key(), new_key()
    write_key_file(path, new)
    write_key_file(previous_key_file(path), old)
    ring = TemplateKeyring(path)
    assert ring.key_ids == (TemplateSealer(new).key_id, TemplateSealer(old).key_id)
    under_old = _seal(TemplateSealer(old))
    assert _open(ring, under_old) == TEMPLATE
    fresh = _seal(ring)
    assert _open(TemplateSealer(new), fresh) == TEMPLATE
    with pytest.raises(InvalidInput):
        _open(TemplateSealer(old), fresh)
    # Binding to the id still holds under every key.
    with pytest.raises(InvalidInput) as caught:
        _open(ring, under_old, template_id="t-2")
    assert caught.value.code == "template_tampered"


def test_a_running_keyring_picks_up_a_switch_of_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "template.key"
    ring = TemplateKeyring(path)
    old_id = ring.key_id
    new = new_key()
    write_key_file(next_key_file(path), new)
    write_key_file(previous_key_file(path), read_key_file(path))
    next_key_file(path).rename(path)
    # A record sealed under the new key opens at once: a failure re-reads the files.
    assert _open(ring, _seal(TemplateSealer(new))) == TEMPLATE
    assert ring.key_ids == (TemplateSealer(new).key_id, old_id)
    # Sealing looks at most once a second; after that it uses the new key.
    previous_key_file(path).unlink()
    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 0.0)
    sealed = _seal(ring)
    assert ring.key_ids == (TemplateSealer(new).key_id,)
    assert _open(TemplateSealer(new), sealed) == TEMPLATE


def test_seal_does_not_stat_the_files_more_than_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = TemplateKeyring(tmp_path / "template.key")
    looks: list[object] = []
    real = crypto._signature
    monkeypatch.setattr(crypto, "_signature", lambda *p: looks.append(p) or real(*p))
    for n in range(200):
        _seal(ring, f"t-{n}")
    assert len(looks) <= 1


@pytest.mark.parametrize("which", ["current", "previous"])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, which: str) -> None:
    path = tmp_path / "template.key"
    write_key_file(path, new_key())
    write_key_file(previous_key_file(path), new_key())
    os.chmod(path if which == "current" else previous_key_file(path), 0o644)
    with pytest.raises(InvalidInput) as caught:
        TemplateKeyring(path)
    assert caught.value.code == "insecure_template_key"
    assert "chmod 600" in caught.value.message


def test_a_key_file_made_unsafe_while_running_keeps_the_keys_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "template.key"
    ring = TemplateKeyring(path)
    before = ring.key_ids
    write_key_file(previous_key_file(path), new_key())
    os.chmod(previous_key_file(path), 0o644)
    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 0.0)
    assert ring.refresh() is False
    assert ring.key_ids == before


def test_write_key_file_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_key_file(path, b"\x01" * 32)
    write_key_file(path, b"\x02" * 32)
    assert read_key_file(path) == b"\x02" * 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]
    with pytest.raises(InvalidInput):
        write_key_file(path, b"short")
