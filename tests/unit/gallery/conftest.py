"""Fixtures for the gallery contract: every implementation, a real sealer, unit vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.faiss_ivf import FaissIvfGallery
from facepay.gallery.memory import InMemoryGallery
from facepay.gallery.ports import Gallery

DIM = 128
MODEL = "dlib-resnet-v1"

GalleryFactory = Callable[..., Gallery]

FACTORIES: dict[str, GalleryFactory] = {
    "memory": lambda model_version=MODEL: InMemoryGallery(dim=DIM, model_version=model_version),
    "faiss-flat": lambda model_version=MODEL: FaissGallery(
        dim=DIM, model_version=model_version, hnsw_above=10_000
    ),
    # HNSW from the first template: exercises tombstones and the sealed graph on tiny data.
    "faiss-hnsw": lambda model_version=MODEL: FaissGallery(
        dim=DIM, model_version=model_version, hnsw_above=0, hnsw_m=8, ef_construction=40
    ),
    # HNSW whose scoped searches always take the filtered graph walk, never the exact path.
    "faiss-hnsw-walk": lambda model_version=MODEL: FaissGallery(
        dim=DIM,
        model_version=model_version,
        hnsw_above=0,
        hnsw_m=8,
        ef_construction=40,
        exact_scope_limit=0,
    ),
    # Starts exact, switches to HNSW once past 20 templates.
    "faiss-switch": lambda model_version=MODEL: FaissGallery(
        dim=DIM, model_version=model_version, hnsw_above=20, hnsw_m=8, ef_construction=40
    ),
    # IVF-SQ8 from the first template (trained again as it grows), exact re-ranking.
    "faiss-ivf": lambda model_version=MODEL: FaissIvfGallery(
        dim=DIM, model_version=model_version, ivf_above=0
    ),
    # IVF whose scoped searches always go through the IVF with a scope bitmap, never exact.
    "faiss-ivf-filtered": lambda model_version=MODEL: FaissIvfGallery(
        dim=DIM, model_version=model_version, ivf_above=0, exact_scope_limit=0
    ),
    # Exact numpy search up to 20 templates, then IVF.
    "faiss-ivf-switch": lambda model_version=MODEL: FaissIvfGallery(
        dim=DIM, model_version=model_version, ivf_above=20
    ),
}


@pytest.fixture(params=sorted(FACTORIES))
def make_gallery(request: pytest.FixtureRequest) -> GalleryFactory:
    """A factory for one implementation; the contract runs once per implementation."""
    return FACTORIES[request.param]


@pytest.fixture
def gallery(make_gallery: GalleryFactory) -> Gallery:
    """An empty gallery of the implementation under test."""
    return make_gallery()


@pytest.fixture
def sealer() -> TemplateSealer:
    """A real AES-GCM sealer with a fixed key."""
    return TemplateSealer(bytes(range(32)))


@pytest.fixture
def gallery_file(tmp_path: Path) -> Path:
    """Where a test saves its gallery."""
    return tmp_path / "gallery.bin"


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    """n random float32 unit vectors of dim 128 (spread like unrelated faces)."""
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def noisy(vector: np.ndarray, seed: int, sigma: float = 0.03) -> np.ndarray:
    """A unit vector near `vector` (cosine about 0.95): another photo of the same face."""
    out = vector + np.random.default_rng(seed).normal(0, sigma, vector.shape).astype(np.float32)
    return out / np.linalg.norm(out)


def ids(n: int, prefix: str = "p") -> list[str]:
    """Template ids p-0000, p-0001, ..."""
    return [f"{prefix}-{i:04d}" for i in range(n)]
