"""The real dlib engine (once per session), real-photo subjects and one small run of the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepay.bootstrap import build_face_engine
from facepay.config import Settings
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.liveness.evaluation import SuiteReport, load_subjects, run_suite
from facepay.vision.liveness.synth.bona_fide import Subject


@pytest.fixture(scope="session")
def liveness_engine() -> DlibFaceEngine:
    """The real models, built through bootstrap (about 2 s, once)."""
    return build_face_engine(Settings())


@pytest.fixture(scope="session")
def subjects(liveness_engine: DlibFaceEngine, images_dir: Path) -> dict[str, Subject]:
    """Obama and Biden from the sample photos, aligned into synthetic-capture frames."""
    photos = (("obama.jpg", "obama"), ("biden.jpg", "biden"))
    return {s.person: s for s in load_subjects(liveness_engine, images_dir, photos)}


@pytest.fixture(scope="session")
def suite(liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]) -> SuiteReport:
    """Every bona fide and attack presentation of the suite for Biden (partner: Obama)."""
    everyone = [subjects["biden"], subjects["obama"]]
    return run_suite(liveness_engine, everyone[:1], partners=everyone, seed=11)
