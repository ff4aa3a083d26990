"""Shared fixtures: the real test photographs fetched by scripts/test-data."""

from __future__ import annotations

from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """Folder of the real sample photos; `make test` fetches them before pytest runs."""
    if not (IMAGES / "obama.jpg").exists():
        pytest.fail("test photos missing: run `make test-data` (scripts/test-data)")
    return IMAGES
