"""The real dlib engine on the real sample photos: detection, embedding, 1:1 and 1:N."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facepay.config import Settings
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.matching import DecisionPolicy, decide
from facepay.shared.errors import InvalidInput
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.pose import estimate_pose
from facepay.vision.types import Embedding, RGBImage
from facepay.vision.verification import build_template, verify

pytestmark = pytest.mark.slow
OBAMAS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "32bit.png")


def test_embedding_is_a_unit_float32_vector(largest: dict[str, Embedding]) -> None:
    vector = largest["obama.jpg"]
    assert vector.dtype == np.float32
    assert vector.shape == (128,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


@pytest.mark.parametrize("other", OBAMAS[1:])
def test_obama_photos_verify_as_the_same_person(
    largest: dict[str, Embedding], settings: Settings, other: str
) -> None:
    result = verify(
        largest["obama.jpg"], largest[other], threshold=settings.verify_threshold, model="dlib"
    )
    assert result.match, result


def test_biden_and_the_six_people_of_t1_do_not_match_obama(
    largest: dict[str, Embedding], t1_faces: list[Embedding], settings: Settings
) -> None:
    strangers = [largest["biden.jpg"], largest["Tom_Hanks_54745.png"], *t1_faces]
    for obama in OBAMAS[:3]:
        for stranger in strangers:
            result = verify(
                largest[obama], stranger, threshold=settings.verify_threshold, model="dlib"
            )
            assert not result.match, (obama, result)


def test_t1_yields_six_faces_and_tom_hanks_112px_is_found(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    assert len(engine.detect(photos["t1.jpg"])) == 6
    (tom,) = engine.detect(photos["Tom_Hanks_54745.png"])
    assert tom.box.width > 60
    assert tom.landmarks.shape == (68, 2)


def test_faces_are_largest_first_in_original_coordinates(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    faces = engine.detect(photos["t1.jpg"])
    areas = [f.box.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    height, width = photos["t1.jpg"].shape[:2]
    for face in faces:
        assert 0 <= face.box.left < face.box.right <= width
        assert 0 <= face.box.top < face.box.bottom <= height


def test_no_face_in_a_mask_or_in_the_background(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    assert engine.detect(photos["mask_white.jpg"]) == []
    background = np.ascontiguousarray(photos["obama.jpg"][:250, :250])
    assert engine.detect(background) == []


def test_kiosk_frame_takes_the_fast_path_and_finds_the_same_face(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    image = photos["obama.jpg"]
    (face,) = engine.detect(image)
    frame = _kiosk_frame(image, face.box.left, face.box.top, face.box.right, face.box.bottom)
    (found,) = engine.detect(frame)
    assert found.box.width >= 134  # the one-pass case (see dlib_engine's docstring)
    score = float(np.dot(engine.embed(frame, found), engine.embed(image, face)))
    assert score > 0.97


def _kiosk_frame(image: RGBImage, left: int, top: int, right: int, bottom: int) -> RGBImage:
    """A 640×480 crop with the face about 200 px wide, as a kiosk camera sees a patient."""
    scale = 200 / (right - left)
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cx, cy = round((left + right) / 2 * scale), round((top + bottom) / 2 * scale)
    x0 = min(max(cx - 320, 0), resized.shape[1] - 640)
    y0 = min(max(cy - 240, 0), resized.shape[0] - 480)
    return np.ascontiguousarray(resized[y0 : y0 + 480, x0 : x0 + 640])


def test_frontal_pose_reads_near_zero_and_roll_stays_upright(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    image = photos["obama.jpg"]
    (face,) = engine.detect(image)
    pose = estimate_pose(face.landmarks, image.shape[:2])
    assert abs(pose.yaw) < 8
    assert abs(pose.pitch) < 8
    assert abs(pose.roll) < 5
    for face in engine.detect(photos["t1.jpg"]):
        assert -90 < estimate_pose(face.landmarks, photos["t1.jpg"].shape[:2]).roll <= 90


def test_head_turn_changes_the_sign_of_yaw(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    image = photos["obama2.jpg"]
    (face,) = engine.detect(image)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    (mirror_face,) = engine.detect(mirrored)
    yaw = estimate_pose(face.landmarks, image.shape[:2]).yaw
    mirror_yaw = estimate_pose(mirror_face.landmarks, image.shape[:2]).yaw
    assert yaw < -15
    assert mirror_yaw > 15


def test_identification_over_a_gallery_of_everyone(
    largest: dict[str, Embedding],
    t1_faces: list[Embedding],
    engine: DlibFaceEngine,
    photos: dict[str, RGBImage],
    settings: Settings,
) -> None:
    gallery = InMemoryGallery(dim=128, model_version=engine.model_version)
    gallery.add("obama", build_template([largest["obama.jpg"], largest["obama2.jpg"]]))
    gallery.add("biden", largest["biden.jpg"])
    gallery.add("tom", largest["Tom_Hanks_54745.png"])
    for index, face in enumerate(t1_faces, start=1):
        gallery.add(f"t1-{index}", face)
    policy = DecisionPolicy(
        threshold=settings.identify_threshold,
        margin=settings.identify_margin,
        band=settings.identify_ambiguity_band,
    )
    result = decide(gallery.search(largest["obama3.jpg"], 5), policy=policy)
    assert (result.decision, result.template_id) == ("match", "obama")
    # Each person of t1.jpg, seen again in a new capture (rotated, dimmer), is found.
    group = photos["t1.jpg"]
    h, w = group.shape[:2]
    rotated = cv2.warpAffine(group, cv2.getRotationMatrix2D((w / 2, h / 2), 4.0, 0.95), (w, h))
    dimmer = (rotated.astype(np.float32) * 0.8).astype(np.uint8)
    faces = sorted(engine.detect(dimmer), key=lambda f: f.box.left)
    assert len(faces) == 6
    for index, face in enumerate(faces, start=1):
        hits = gallery.search(engine.embed(dimmer, face), 3)
        assert hits[0].template_id == f"t1-{index}"
        assert decide(hits, policy=policy).decision in {"match", "ambiguous"}
    # Someone not enrolled is not matched to anyone.
    gallery.remove("biden")
    assert decide(gallery.search(largest["biden.jpg"], 5), policy=policy).decision == "no_match"


def test_odd_arrays_are_handled(engine: DlibFaceEngine, photos: dict[str, RGBImage]) -> None:
    for shape in [(16, 40000, 3), (40000, 16, 3), (16, 16, 3)]:
        assert engine.detect(np.zeros(shape, dtype=np.uint8)) == []
    mirrored = photos["obama.jpg"][:, ::-1]  # a non-contiguous view
    (face,) = engine.detect(mirrored)
    assert engine.embed(mirrored, face).shape == (128,)
    with pytest.raises(InvalidInput, match="H×W×3 uint8"):
        engine.detect(np.zeros((48, 48), dtype=np.uint8))
    with pytest.raises(InvalidInput, match="H×W×3 uint8"):
        engine.detect(np.zeros((48, 48, 3), dtype=np.float32))  # type: ignore[arg-type]


def test_numpy_resnet_gives_dlibs_own_embeddings(
    engine: DlibFaceEngine, photos: dict[str, RGBImage]
) -> None:
    reference = DlibFaceEngine(embed_backend="dlib")
    for name in ("obama.jpg", "biden.jpg", "t1.jpg", "Tom_Hanks_54745.png", "32bit.png"):
        image = photos[name]
        for face in engine.detect(image)[:2]:
            ours, theirs = engine.embed(image, face), reference.embed(image, face)
            assert np.abs(ours - theirs).max() < 1e-5, name


def test_the_copied_hog_detectors_find_the_same_faces_as_dlibs_own(
    photos: dict[str, RGBImage],
) -> None:
    from facepay.vision.dlib_engine import _hog_detectors  # noqa: PLC0415

    own, *copies = _hog_detectors(2)  # dlib's own detector, then the copy under test
    for name in ("obama.jpg", "Tom_Hanks_54745.png"):
        expected = [(r.left(), r.top(), r.right(), r.bottom()) for r in own(photos[name], 1)]
        assert expected
        for hog in copies:
            found = [(r.left(), r.top(), r.right(), r.bottom()) for r in hog(photos[name], 1)]
            assert found == expected, name
