"""The real dlib engine, loaded once per test session, and the sample photos it sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.bootstrap import build_face_engine
from facepay.config import Settings
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.image import load_image
from facepay.vision.types import Embedding, RGBImage


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Default settings (thresholds as shipped)."""
    return Settings()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> DlibFaceEngine:
    """The real models, built through bootstrap like the CLI does (about 2 s, once)."""
    return build_face_engine(settings)


@pytest.fixture(scope="session")
def photos(images_dir: Path) -> dict[str, RGBImage]:
    """Every sample photo, decoded."""
    return {path.name: load_image(path) for path in sorted(images_dir.iterdir())}


@pytest.fixture(scope="session")
def t1_faces(engine: DlibFaceEngine, photos: dict[str, RGBImage]) -> list[Embedding]:
    """The six people of t1.jpg, left to right."""
    image = photos["t1.jpg"]
    faces = sorted(engine.detect(image), key=lambda f: f.box.left)
    return [engine.embed(image, face) for face in faces]


@pytest.fixture(scope="session")
def largest(engine: DlibFaceEngine, photos: dict[str, RGBImage]) -> dict[str, Embedding]:
    """The embedding of the largest face of each single-person photo."""
    result = {}
    for name, image in photos.items():
        faces = engine.detect(image)
        if faces and name != "t1.jpg":
            result[name] = engine.embed(image, faces[0])
    return result
