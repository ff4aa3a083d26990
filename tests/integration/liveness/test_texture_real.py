"""The screen-texture cue on the original sample photographs (camera images, not screens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness.checks.texture import PEAK_LIMIT, spectral_peak

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name", ["obama.jpg", "obama3.jpg", "biden.jpg", "t1.jpg", "Tom_Hanks_54745.png"]
)
def test_real_photos_show_no_screen_grid(
    liveness_engine: DlibFaceEngine, images_dir: Path, name: str
) -> None:
    image = load_image(images_dir / name)
    faces = liveness_engine.detect(image)
    assert faces
    assert all(spectral_peak(image, f.box) < 0.6 * PEAK_LIMIT for f in faces)
