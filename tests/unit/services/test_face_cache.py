"""CachingFaceEngine answers repeats of the very same array from memory, and nothing else."""

from __future__ import annotations

import numpy as np

from facepay.services.face_cache import CachingFaceEngine
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.types import BoundingBox


def test_repeats_of_one_array_are_computed_once() -> None:
    fake = FakeFaceEngine([(BoundingBox(10, 10, 60, 60), "alice")])
    engine = CachingFaceEngine(fake, frames=2)
    frame = np.zeros((80, 80, 3), dtype=np.uint8)
    faces = engine.detect(frame)
    assert engine.detect(frame) == faces
    first = engine.embed(frame, faces[0])
    first[:] = 0  # a caller scribbling on its copy must not poison the cache
    assert np.allclose(np.linalg.norm(engine.embed(frame, faces[0])), 1.0)
    assert fake.calls == {"detect": 1, "embed": 1}


def test_an_equal_but_different_array_is_computed_again_and_old_entries_go() -> None:
    fake = FakeFaceEngine([(BoundingBox(10, 10, 60, 60), "alice")])
    engine = CachingFaceEngine(fake, frames=2)
    frames = [np.zeros((80, 80, 3), dtype=np.uint8) for _ in range(3)]
    for frame in frames:
        engine.detect(frame)
    engine.detect(frames[0])  # evicted by the two later frames
    engine.detect(frames[2])  # still cached
    assert fake.calls["detect"] == 4
    assert engine.model_version == fake.model_version
    assert engine.embedding_dim == fake.embedding_dim


def test_the_cache_keeps_no_frame_alive() -> None:
    import gc  # noqa: PLC0415
    import weakref  # noqa: PLC0415

    fake = FakeFaceEngine([(BoundingBox(10, 10, 60, 60), "alice")])
    engine = CachingFaceEngine(fake, frames=48)
    frame = np.zeros((80, 80, 3), dtype=np.uint8)
    engine.embed(frame, engine.detect(frame)[0])
    alive = weakref.ref(frame)
    assert len(engine) == 2
    del frame
    gc.collect()
    assert alive() is None  # before, the cache held the last 48 frames of every request
    assert len(engine) == 0
