"""bootstrap builds the configured gallery and the sealer from settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from facepay.bootstrap import build_gallery, build_template_sealer
from facepay.config import Settings
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.faiss_ivf import FaissIvfGallery
from facepay.gallery.memory import InMemoryGallery
from facepay.shared.errors import InvalidInput

from .conftest import MODEL


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("faiss", FaissGallery), ("faiss-ivf", FaissIvfGallery), ("memory", InMemoryGallery)],
)
def test_the_backend_comes_from_settings(tmp_path: Path, backend: str, kind: type) -> None:
    gallery = build_gallery(
        Settings(data_dir=tmp_path, gallery_backend=backend), dim=128, model_version=MODEL
    )
    assert isinstance(gallery, kind)
    assert gallery.model_version == MODEL
    assert gallery.dim == 128


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="pgvektor"):
        build_gallery(
            Settings(data_dir=tmp_path, gallery_backend="pgvektor"), dim=128, model_version=MODEL
        )


def test_the_sealer_key_file_defaults_to_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    sealer = build_template_sealer(settings)
    key = tmp_path / "data" / "template.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    sealed = sealer.seal(b"x" * 512, template_id="t", model_version=MODEL)
    assert build_template_sealer(settings).open(sealed, template_id="t", model_version=MODEL)


def test_a_configured_key_file_is_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", template_key_file=tmp_path / "keys" / "k")
    build_template_sealer(settings)
    assert (tmp_path / "keys" / "k").stat().st_size == 32
    assert not (tmp_path / "data" / "template.key").exists()
