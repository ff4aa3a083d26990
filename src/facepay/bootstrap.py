"""Composition root: the only place that reads settings and builds models, engines and indexes."""

from __future__ import annotations

from facepay.config import Settings
from facepay.vision.dlib_engine import DlibFaceEngine


def load_settings() -> Settings:
    """Read settings from the environment (prefix FACEPAY_)."""
    return Settings()


def build_face_engine(settings: Settings) -> DlibFaceEngine:
    """Load the dlib models once (about 2 s)."""
    return DlibFaceEngine(
        detect_max_side=settings.detect_max_side,
        upsample=settings.detect_upsample,
        fast_path_min_face=settings.detect_fast_path_min_face,
    )
