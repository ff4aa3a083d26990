"""`DlibFaceEngine`: dlib's HOG detector, 68-point shape predictor and ResNet-34 embedding.

The ResNet runs in NumPy by default (`facepay.vision.resnet_numpy`: same weights and outputs,
~20 ms instead of ~115 ms per face on one core); `embed_backend="dlib"` uses dlib's own code.

The weights come from the PyPI package `face-recognition-models`; they are located through the
import system without importing that package (its `__init__` needs the deprecated
`pkg_resources`). Nothing is downloaded. Detection runs on a copy scaled so that its longer side is
at most `detect_max_side` pixels (speed); landmarks and the aligned chip use the original image.

Detection is two-pass. HOG's window is 80 px, so one pass at the detection scale (~40 ms on a
640×480 frame, one core) finds every face of about 80 px or more. A second pass on a copy enlarged
`second_pass_scale` times (1.5: faces down to ~50 px, about 2.3× the first pass's cost; dlib's
own 2× upsampling would cost 4×) finds the smaller ones. It is skipped when the first pass
already found a face so large (`fast_path_min_face`, default 134 px = 80 / 0.6) that any face it
missed is less than 0.6 of the largest: too small to compete with it (see
`quality.MULTIPLE_FACE_RATIO`). A kiosk frame with the patient in front of the camera therefore
costs one cheap pass; a group photo or a distant face costs both.

Threads. FastAPI runs handlers in a thread pool, so one engine serves many requests at once.
dlib's HOG detector keeps scratch buffers in the detector object (two threads detecting with one
detector crashed the process with `double free or corruption`), and dlib's own ResNet keeps its
layer outputs in the network object, so each of those is used by one thread at a time: the engine
holds a bounded pool of `detectors` detector sets and a thread borrows one for each call. The
68-point shape predictor (a const evaluation over the image), `get_face_chip` and the NumPy ResNet
keep no state between calls and are shared. A pool of one is a lock; `bench/face_threads.py`
measures which size keeps the most throughput (README, "Measured figures").

Following a face. Between two frames of a capture a face moves a few pixels, so `follow` places
the landmarks again from the previous frame's box instead of searching the whole frame: the
shape predictor runs on that box (~4 ms instead of ~30 ms for a detection on a 320×320 frame,
one core), and the box is moved and scaled with what the landmarks did. When the face moved more
than a little, the predictor runs once more on the moved box; when that second placement
disagrees with the first - the face moved too far for the old box, changed size, or left the
frame - `follow` answers None and the caller detects. The shape predictor places 68 points in
any box, face or not, so every few frames the caller asks `follow` to confirm: HOG on a small
crop around the box, scaled so that the face just fills the detector's window (~4 ms), must
find a face there. Only that confirmation borrows a detector set.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from facepay.shared.errors import InvalidInput
from facepay.vision.resnet_numpy import NumpyDlibResNet
from facepay.vision.types import BoundingBox, Embedding, Face, RGBImage

MODEL_VERSION = "dlib-resnet-v1"
_EMBEDDING_DIM = 128
FOLLOW_STILL = 0.03
"""A face whose landmarks moved less than this (box widths, or relative change of size) since
the previous frame keeps the landmarks placed from the previous box."""
FOLLOW_MAX_DRIFT = 0.06
"""Otherwise the landmarks are placed again from the moved box; when the two placements differ
by more than this the face is not followed but detected."""
CONFIRM_FACE_PX = 90
CONFIRM_MARGIN = 1.4
CONFIRM_OVERLAP = 0.4
"""`follow(confirm=True)`: the face scaled to this width, a crop this many face sizes wide, and
the intersection over union a detection in it must have with the followed box."""
_STABLE = slice(17, 48)
"""Brows, nose and eyes: the landmarks that neither a blink nor an open mouth moves much."""


def default_detectors() -> int:
    """One detector set per core: more cannot run at once, fewer leave a core idle."""
    return max(1, os.cpu_count() or 1)


def models_dir() -> Path:
    """Return the folder holding the dlib weights shipped by `face-recognition-models`."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        msg = "the PyPI package face-recognition-models is not installed"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class _DetectorSet:
    """What one thread needs for itself: a HOG detector and, for the dlib backend, the ResNet."""

    def __init__(self, hog: Any, resnet: Path, *, dlib_encoder: bool) -> None:
        self.hog = hog
        self.encoder = dlib.face_recognition_model_v1(str(resnet)) if dlib_encoder else None


def _hog_detectors(count: int) -> list[Any]:
    """`count` independent HOG detectors. dlib builds its frontal face detector by decoding the
    model it embeds, about 1 s of CPU each time; a pickled copy of the first one is the same
    detector (the same weights, the same boxes: tests/integration/vision) in a few milliseconds,
    which makes a server or terminal start ~1 s faster for each core past the first."""
    first = dlib.get_frontal_face_detector()
    model = pickle.dumps(first)
    return [first, *(pickle.loads(model) for _ in range(count - 1))]  # noqa: S301 - our own bytes


class DlibFaceEngine:
    """The real face engine, safe to share between threads (see the module docstring).
    Construct once: it loads ~100 MB of weights and one HOG detector per `detectors`."""

    def __init__(
        self,
        *,
        detect_max_side: int = 640,
        second_pass_scale: float = 1.5,
        min_detect_side: int = 320,
        fast_path_min_face: int = 134,
        embed_backend: Literal["numpy", "dlib"] = "numpy",
        weights: Path | None = None,
        detectors: int | None = None,
    ) -> None:
        folder = weights or models_dir()
        self._shape68 = dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))
        resnet = folder / "dlib_face_recognition_resnet_model_v1.dat"
        count = detectors if detectors is not None else default_detectors()
        if count < 1:
            raise InvalidInput("the face engine needs at least one detector", code="bad_setting")
        self._sets: queue.LifoQueue[_DetectorSet] = queue.LifoQueue()
        for hog in _hog_detectors(count):
            self._sets.put(_DetectorSet(hog, resnet, dlib_encoder=embed_backend == "dlib"))
        self._detectors = count
        # Same weights, same outputs (to 1e-6); NumPy's BLAS makes it ~5× faster than this
        # BLAS-less dlib build. "dlib" stays available to cross-check the port.
        self._describe: Callable[[NDArray[np.uint8]], NDArray[np.float32]]
        if embed_backend == "numpy":
            self._describe = NumpyDlibResNet(resnet)
        else:
            self._describe = self._describe_with_dlib
        self._detect_max_side = detect_max_side
        self._min_detect_side = min_detect_side
        self._second_pass_scale = second_pass_scale
        self._fast_path_min_face = fast_path_min_face

    @property
    def detectors(self) -> int:
        """How many threads can detect at once."""
        return self._detectors

    @contextmanager
    def _borrowed(self) -> Iterator[_DetectorSet]:
        """One detector set for this thread; waits while every set is in use."""
        detector_set = self._sets.get()
        try:
            yield detector_set
        finally:
            self._sets.put(detector_set)

    def _describe_with_dlib(self, chip: NDArray[np.uint8]) -> NDArray[np.float32]:
        with self._borrowed() as detector_set:
            assert detector_set.encoder is not None
            return np.asarray(detector_set.encoder.compute_face_descriptor(chip), dtype=np.float32)

    @property
    def model_version(self) -> str:
        """dlib ResNet v1 embedding over 68-point alignment."""
        return MODEL_VERSION

    @property
    def embedding_dim(self) -> int:
        """128."""
        return _EMBEDDING_DIM

    def _detection_scale(self, image: RGBImage) -> float:
        longest = int(max(image.shape[0], image.shape[1]))
        if longest > self._detect_max_side:
            return self._detect_max_side / longest
        if longest < self._min_detect_side:
            # Small inputs (an ID-card chip photo is ~100 px) are enlarged so HOG can see them.
            return self._min_detect_side / longest
        return 1.0

    def detect(self, image: RGBImage) -> list[Face]:
        """Return every face in `image`, largest first, in original-image coordinates."""
        image = _checked(image)
        scale = self._detection_scale(image)
        small: RGBImage = image
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            small = cv2.resize(  # type: ignore[assignment]
                image,
                (max(round(image.shape[1] * scale), 1), max(round(image.shape[0] * scale), 1)),
                interpolation=interpolation,
            )
        found = self._run_detector(np.ascontiguousarray(small))
        faces: list[Face] = []
        height, width = image.shape[:2]
        for (left, top, right, bottom), score in found:
            box = BoundingBox(
                left=max(0, round(left / scale)),
                top=max(0, round(top / scale)),
                right=min(width, round(right / scale)),
                bottom=min(height, round(bottom / scale)),
            )
            if box.area == 0:
                continue
            faces.append(Face(box=box, score=float(score), landmarks=self._landmarks(image, box)))
        faces.sort(key=lambda f: f.box.area, reverse=True)
        return faces

    def follow(self, image: RGBImage, previous: Face, *, confirm: bool = False) -> Face | None:
        """The face of the previous frame `previous`, found again in `image` from its box; None
        when it cannot be followed (the caller then detects). With `confirm`, a detection on a
        small crop around the box must also find a face there (~4 ms)."""
        image = _checked(image)
        height, width = image.shape[:2]
        first = self._landmarks(image, previous.box)
        box = _moved(previous.box, previous.landmarks, first, width, height)
        if box is None:
            return None
        landmarks = first
        if _drift(previous.landmarks, first, box) > FOLLOW_STILL:
            # The face moved more than a little: place the landmarks again from the moved box.
            landmarks = self._landmarks(image, box)
            if _drift(first, landmarks, box) > FOLLOW_MAX_DRIFT:
                return None
        if confirm and not self._face_near(image, box):
            return None
        return Face(box=box, score=previous.score, landmarks=landmarks)

    def _face_near(self, image: RGBImage, box: BoundingBox) -> bool:
        """Whether HOG finds a face overlapping `box` in a crop around it, scaled so that the
        face is a little above the detector's 80 px window (a fraction of a whole-frame pass)."""
        scale = CONFIRM_FACE_PX / max(box.width, 1)
        cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        half = CONFIRM_MARGIN * max(box.width, box.height) / 2
        x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
        x1 = min(image.shape[1], round(cx + half))
        y1 = min(image.shape[0], round(cy + half))
        size = (max(round((x1 - x0) * scale), 1), max(round((y1 - y0) * scale), 1))
        crop: RGBImage = np.ascontiguousarray(
            cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        for (left, top, right, bottom), _ in self._hog(crop, 1.0):
            found = BoundingBox(
                left=round(x0 + left / scale),
                top=round(y0 + top / scale),
                right=round(x0 + right / scale),
                bottom=round(y0 + bottom / scale),
            )
            if _overlap(found, box) >= CONFIRM_OVERLAP:
                return True
        return False

    def _landmarks(self, image: RGBImage, box: BoundingBox) -> NDArray[np.float64]:
        shape = self._shape68(image, _to_rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def _run_detector(self, small: RGBImage) -> list[tuple[tuple[float, ...], float]]:
        """Boxes (left, top, right, bottom; exclusive) in `small`'s pixels, with scores."""
        found = self._hog(small, 1.0)
        largest = max((box[2] - box[0] for box, _ in found), default=0.0)
        if self._second_pass_scale > 1.0 and largest < self._fast_path_min_face:
            # The enlarged pass sees every face the first one did, plus the smaller ones.
            found = self._hog(small, self._second_pass_scale)
        return found

    def _hog(self, small: RGBImage, factor: float) -> list[tuple[tuple[float, ...], float]]:
        image = small
        if factor != 1.0:
            size = (round(small.shape[1] * factor), round(small.shape[0] * factor))
            image = np.ascontiguousarray(cv2.resize(small, size, interpolation=cv2.INTER_LINEAR))
        # -0.2 lowers dlib's decision threshold a little: it finds the turned faces of t1.jpg.
        with self._borrowed() as detector_set:
            rects, scores, _ = detector_set.hog.run(image, 0, -0.2)
        return [
            (
                (
                    r.left() / factor,
                    r.top() / factor,
                    (r.right() + 1) / factor,
                    (r.bottom() + 1) / factor,
                ),
                float(s),
            )
            for r, s in zip(rects, scores, strict=True)
        ]

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """Return the unit-length 128-d embedding of `face` (aligned 150×150 chip, no jitter)."""
        image = _checked(image)
        shape = dlib.full_object_detection(
            _to_rect(face.box), [dlib.point(round(x), round(y)) for x, y in face.landmarks]
        )
        chip = np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25), dtype=np.uint8)
        vector = self._describe(chip)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            msg = "the embedding model returned a zero vector"
            raise RuntimeError(msg)
        result: Embedding = vector / norm
        return result


def _checked(image: RGBImage) -> RGBImage:
    """dlib wants a C-contiguous H×W×3 uint8 array; refuse anything else with a clear error."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        msg = f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}"
        raise InvalidInput(msg)
    return np.ascontiguousarray(image)


def _centre(points: NDArray[np.float64]) -> NDArray[np.float64]:
    centre: NDArray[np.float64] = points[_STABLE].mean(axis=0)
    return centre


def _spread(points: NDArray[np.float64]) -> float:
    stable = points[_STABLE]
    return float(np.sqrt(((stable - stable.mean(axis=0)) ** 2).sum(axis=1).mean())) or 1.0


def _overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union."""
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(w, 0) * max(h, 0)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


def _drift(before: NDArray[np.float64], after: NDArray[np.float64], box: BoundingBox) -> float:
    """How far the landmarks moved (box widths) or changed size (relative), whichever is more."""
    shift = float(np.linalg.norm(_centre(after) - _centre(before))) / max(box.width, 1)
    return max(shift, abs(_spread(after) / _spread(before) - 1.0))


def _moved(
    box: BoundingBox,
    before: NDArray[np.float64],
    after: NDArray[np.float64],
    width: int,
    height: int,
) -> BoundingBox | None:
    """`box` moved and scaled as the landmarks moved from `before` to `after`; None when the
    moved box leaves the frame (the face is going out of view: detect instead)."""
    scale = _spread(after) / _spread(before)
    centre = np.array([(box.left + box.right) / 2, (box.top + box.bottom) / 2])
    centre += _centre(after) - _centre(before)
    half_w, half_h = box.width * scale / 2, box.height * scale / 2
    left, top = round(centre[0] - half_w), round(centre[1] - half_h)
    right, bottom = round(centre[0] + half_w), round(centre[1] + half_h)
    if left < 0 or top < 0 or right > width or bottom > height or right - left < 2:
        return None
    return BoundingBox(left=left, top=top, right=right, bottom=bottom)


def _to_rect(box: BoundingBox) -> dlib.rectangle:
    return dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
