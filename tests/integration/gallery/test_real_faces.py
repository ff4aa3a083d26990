"""1:N over real dlib embeddings of the sample photos, through bootstrap, sealed to disk."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from facepay.bootstrap import build_face_engine, build_gallery, build_template_sealer
from facepay.config import Settings
from facepay.gallery.ports import Gallery
from facepay.vision.image import load_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embeddings(images_dir: Path) -> dict[str, np.ndarray]:
    """Real embeddings: Obama x3, Biden, and the six people of t1.jpg."""
    engine = build_face_engine(Settings())
    out: dict[str, np.ndarray] = {}
    for name in ("obama", "obama2", "obama3", "biden", "t1"):
        image = load_image(images_dir / f"{name}.jpg")
        faces = engine.detect(image)
        for i, face in enumerate(faces):
            out[name if len(faces) == 1 else f"{name}-{i}"] = engine.embed(image, face)
    assert sum(key.startswith("t1-") for key in out) == 6
    return out


@pytest.fixture(params=["memory", "faiss-flat", "faiss-hnsw"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    backend, _, kind = request.param.partition("-")
    above = 0 if kind == "hnsw" else 20_000
    return Settings(data_dir=tmp_path / "data", gallery_backend=backend, gallery_hnsw_above=above)


def enrol_all(settings: Settings, embeddings: dict[str, np.ndarray]) -> Gallery:
    gallery = build_gallery(settings, dim=128, model_version="dlib-resnet-v1")
    for name in ["obama", "biden"] + [f"t1-{i}" for i in range(6)]:
        gallery.add(name, embeddings[name])
    return gallery


@pytest.mark.parametrize("probe", ["obama2", "obama3"])
def test_other_photos_of_obama_find_obama_first(
    settings: Settings, embeddings: dict[str, np.ndarray], probe: str
) -> None:
    gallery = enrol_all(settings, embeddings)
    hits = gallery.search(embeddings[probe], 3)
    assert hits[0].template_id == "obama"
    assert hits[0].score > hits[1].score + 0.05


def test_biden_and_the_people_of_t1_find_themselves(
    settings: Settings, embeddings: dict[str, np.ndarray]
) -> None:
    gallery = enrol_all(settings, embeddings)
    for name in ["biden"] + [f"t1-{i}" for i in range(6)]:
        top = gallery.search(embeddings[name], 1)[0]
        assert top.template_id == name
        assert top.score == pytest.approx(1.0, abs=1e-5)


def test_after_removal_obama_is_no_longer_found(
    settings: Settings, embeddings: dict[str, np.ndarray]
) -> None:
    gallery = enrol_all(settings, embeddings)
    gallery.remove("obama")
    assert "obama" not in {h.template_id for h in gallery.search(embeddings["obama2"], 10)}


def test_the_sealed_file_round_trips_with_the_key_made_on_first_run(
    settings: Settings, embeddings: dict[str, np.ndarray]
) -> None:
    gallery = enrol_all(settings, embeddings)
    path = settings.data_dir / "gallery.bin"
    gallery.save(path, build_template_sealer(settings))

    key = settings.resolved_template_key_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert not any(vector.astype("<f4").tobytes()[:16] in data for vector in embeddings.values())

    again = build_gallery(
        Settings(data_dir=settings.data_dir, gallery_backend="memory"),
        dim=128,
        model_version="dlib-resnet-v1",
    )
    again.load(path, build_template_sealer(settings))
    assert len(again) == 8
    assert again.search(embeddings["obama3"], 1)[0].template_id == "obama"
