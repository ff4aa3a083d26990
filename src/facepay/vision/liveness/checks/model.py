"""Optional passive PAD model behind a port (e.g. a MiniFASNet-style network run by onnxruntime).

No model ships with facepay and onnxruntime is not a dependency. `PadModel` is the port;
`OnnxPadModel` loads user-supplied weights when onnxruntime is installed and says clearly what is
missing otherwise; without a model the check reports "not configured" and does not vote.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facepay.shared.errors import InvalidInput
from facepay.vision.liveness.checks.base import CheckResult, Evidence, skipped
from facepay.vision.types import Face, RGBImage

LIVE_THRESHOLD = 0.5


class PadModel(Protocol):
    """A passive presentation-attack detector for one face in one frame."""

    def live_probability(self, image: RGBImage, face: Face) -> float:
        """Probability in [0, 1] that the face is bona fide."""
        ...


class OnnxPadModel:
    """MiniFASNet-style ONNX model: face box × `context`, `size`² BGR input, softmax."""

    def __init__(
        self, weights: Path, *, size: int = 80, context: float = 2.7, live_class: int = 1
    ) -> None:
        if not weights.is_file():
            msg = f"PAD model weights not found: {weights}"
            raise InvalidInput(msg)
        try:
            runtime: Any = importlib.import_module("onnxruntime")
        except ImportError as exc:
            msg = "a PAD model is configured but onnxruntime is not installed"
            raise InvalidInput(msg) from exc
        self._session = runtime.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._size, self._context, self._live = size, context, live_class

    def live_probability(self, image: RGBImage, face: Face) -> float:
        """Run the model on the face crop."""
        box = face.box
        cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        half = max(box.width, box.height) * self._context / 2
        h, w = image.shape[:2]
        x0, x1 = int(max(0, cx - half)), int(min(w, cx + half))
        y0, y1 = int(max(0, cy - half)), int(min(h, cy + half))
        crop = cv2.resize(image[y0:y1, x0:x1, ::-1], (self._size, self._size))
        batch = np.ascontiguousarray(crop.transpose(2, 0, 1)[None].astype(np.float32))
        logits = np.asarray(self._session.run(None, {self._input: batch})[0], dtype=np.float64)[0]
        probabilities = np.exp(logits - logits.max())
        return float(probabilities[self._live] / probabilities.sum())


class PadModelCheck:
    """Mean live probability of the optional model over three frames."""

    name = "model"

    def __init__(self, model: PadModel | None = None) -> None:
        self._model = model

    def run(self, evidence: Evidence) -> CheckResult:
        """Skip when no model is configured."""
        if self._model is None:
            return skipped(
                self.name, "PAD model not configured (optional: needs onnxruntime and weights)"
            )
        good = evidence.track.good
        if not good:
            return skipped(self.name, "no face to examine")
        frames = evidence.capture.frames
        scores = []
        for tracked in {f.index: f for f in (good[0], good[len(good) // 2], good[-1])}.values():
            assert tracked.face is not None
            scores.append(self._model.live_probability(frames[tracked.index].rgb, tracked.face))
        score = float(np.mean(scores))
        passed = score >= LIVE_THRESHOLD
        return CheckResult(
            self.name,
            score,
            passed,
            f"PAD model live probability {score:.2f}",
            details={"live_probability": score},
        )
