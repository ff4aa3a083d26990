"""Template sealing: AES-256-GCM bound to template id and model version; the key file's rules."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from facepay.adapters.crypto import TemplateSealer, load_or_create_key
from facepay.shared.errors import InvalidInput

MODEL = "dlib-resnet-v1"
TEMPLATE = bytes(range(256)) * 2  # 512 bytes, the size of a 128-d float32 embedding


@pytest.fixture
def sealer() -> TemplateSealer:
    return TemplateSealer(os.urandom(32))


def test_a_sealed_template_opens_with_the_same_id_and_model(sealer: TemplateSealer) -> None:
    sealed = sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL)
    assert TEMPLATE not in sealed
    assert len(sealed) == 12 + len(TEMPLATE) + 16
    assert sealer.open(sealed, template_id="t-1", model_version=MODEL) == TEMPLATE


def test_every_seal_uses_a_fresh_nonce(sealer: TemplateSealer) -> None:
    seals = {sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL) for _ in range(50)}
    assert len(seals) == 50
    assert len({s[:12] for s in seals}) == 50


@pytest.mark.parametrize(
    ("template_id", "model_version"),
    [("t-2", MODEL), ("t-1", "dlib-resnet-v2"), ("t-1" + MODEL, ""), ("", "t-1" + MODEL)],
)
def test_another_id_or_model_cannot_open_it(
    sealer: TemplateSealer, template_id: str, model_version: str
) -> None:
    sealed = sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL)
    with pytest.raises(InvalidInput) as caught:
        sealer.open(sealed, template_id=template_id, model_version=model_version)
    assert caught.value.code == "template_tampered"


def test_any_flipped_bit_is_detected(sealer: TemplateSealer) -> None:
    sealed = sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL)
    for at in range(0, len(sealed), 7):
        damaged = bytearray(sealed)
        damaged[at] ^= 0x80
        with pytest.raises(InvalidInput):
            sealer.open(bytes(damaged), template_id="t-1", model_version=MODEL)


@pytest.mark.parametrize("length", [0, 11, 27])
def test_a_truncated_record_is_refused(sealer: TemplateSealer, length: int) -> None:
    sealed = sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL)
    with pytest.raises(InvalidInput):
        sealer.open(sealed[:length], template_id="t-1", model_version=MODEL)


def test_another_key_cannot_open_it(sealer: TemplateSealer) -> None:
    sealed = sealer.seal(TEMPLATE, template_id="t-1", model_version=MODEL)
    with pytest.raises(InvalidInput):
        TemplateSealer(os.urandom(32)).open(sealed, template_id="t-1", model_version=MODEL)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        TemplateSealer(b"k" * length)


def test_the_key_never_shows_in_repr() -> None:
    key = b"S" * 32
    assert "SSSS" not in repr(TemplateSealer(key))


def test_the_key_file_is_made_on_first_run_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "template.key"
    old_umask = os.umask(0)  # even a permissive umask must not widen the key's mode
    try:
        key = load_or_create_key(path)
    finally:
        os.umask(old_umask)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    sealed = TemplateSealer.from_key_file(path).seal(TEMPLATE, template_id="a", model_version=MODEL)
    assert TemplateSealer(key).open(sealed, template_id="a", model_version=MODEL) == TEMPLATE


def test_two_first_runs_make_different_keys(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path / "a.key") != load_or_create_key(tmp_path / "b.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "template.key"
    load_or_create_key(path)
    path.chmod(mode)
    with pytest.raises(InvalidInput, match="chmod 600") as caught:
        load_or_create_key(path)
    assert caught.value.code == "insecure_template_key"


@pytest.mark.parametrize("size", [0, 16, 31, 33, 44])
def test_a_key_file_of_the_wrong_length_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "template.key"
    path.write_bytes(b"k" * size)
    path.chmod(0o600)
    with pytest.raises(InvalidInput, match="32 bytes"):
        load_or_create_key(path)
    assert path.read_bytes() == b"k" * size  # never silently replaced


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    (tmp_path / "template.key").mkdir(mode=0o700)
    with pytest.raises(InvalidInput, match="regular file"):
        load_or_create_key(tmp_path / "template.key")
