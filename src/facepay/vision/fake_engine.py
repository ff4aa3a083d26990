"""`FakeFaceEngine`: a deterministic `FaceEngine` for unit tests of the logic around the port.

It "detects" the faces it is shown (`show`) and embeds each by the identity attached to it, so
that the same person gives the same unit vector in every frame and different people give
near-orthogonal vectors. Landmarks are a plausible frontal 68-point layout inside the box, which
keeps pose and quality code working on its output. No model, no randomness between runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from facepay.vision.types import BoundingBox, Embedding, Face, Landmarks, RGBImage

FAKE_MODEL_VERSION = "fake-v1"


class FakeFaceEngine:
    """Finds the (box, identity) pairs it was shown; embeds by identity."""

    def __init__(
        self,
        faces: Sequence[tuple[BoundingBox, str]] = (),
        *,
        dim: int = 128,
        model_version: str = FAKE_MODEL_VERSION,
    ) -> None:
        self._faces = list(faces)
        self._dim = dim
        self._model_version = model_version
        self.calls = {"detect": 0, "embed": 0}

    @property
    def model_version(self) -> str:
        """`fake-v1` unless told otherwise."""
        return self._model_version

    @property
    def embedding_dim(self) -> int:
        """As configured (128 by default, like dlib)."""
        return self._dim

    def show(self, faces: Sequence[tuple[BoundingBox, str]]) -> None:
        """Set the faces that the next frames contain."""
        self._faces = list(faces)

    def detect(self, image: RGBImage) -> list[Face]:
        """The shown faces that overlap the image, clipped to it, largest first."""
        self.calls["detect"] += 1
        height, width = image.shape[:2]
        found = []
        for box, _ in self._faces:
            clipped = BoundingBox(
                left=max(box.left, 0),
                top=max(box.top, 0),
                right=min(box.right, width),
                bottom=min(box.bottom, height),
            )
            if clipped.width > 0 and clipped.height > 0:
                found.append(Face(box=clipped, score=1.0, landmarks=frontal_landmarks(box)))
        found.sort(key=lambda f: f.box.area, reverse=True)
        return found

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """The identity's vector; a face nobody was attached to embeds by its box."""
        self.calls["embed"] += 1
        for box, identity in self._faces:
            if _overlap(box, face.box) > 0.5:
                return identity_vector(identity, self._dim)
        return identity_vector(f"unknown:{face.box}", self._dim)


def identity_vector(identity: str, dim: int = 128) -> Embedding:
    """A fixed unit vector per identity (seeded by its SHA-256)."""
    seed = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    result: Embedding = vector / np.float32(np.linalg.norm(vector))
    return result


# A frontal face in unit coordinates (0..1 across the dlib box): jaw, brows, nose, eyes, mouth.
def frontal_landmarks(box: BoundingBox) -> Landmarks:
    """68 iBUG-ordered points of a level, frontal face filling `box` as dlib's boxes do."""
    angles = np.linspace(np.pi, 0.0, 17)
    jaw = np.stack([0.5 - 0.48 * np.cos(angles), 0.35 + 0.62 * np.sin(angles) * 0.98], axis=1)
    brows = np.array([(0.12 + 0.07 * i, 0.22 - 0.02 * min(i, 4 - i)) for i in range(5)])
    brows = np.vstack([brows, brows[::-1] * [-1, 1] + [1, 0]])
    bridge = [(0.5, 0.35), (0.5, 0.43), (0.5, 0.51), (0.5, 0.59)]
    nostrils = [(0.42, 0.64), (0.46, 0.655), (0.5, 0.665), (0.54, 0.655), (0.58, 0.64)]
    nose = np.array([*bridge, *nostrils])
    eye = np.array([(0, 0), (0.05, -0.03), (0.1, -0.03), (0.15, 0), (0.1, 0.02), (0.05, 0.02)])
    eyes = np.vstack([eye + np.array([0.2, 0.36]), eye + np.array([0.65, 0.36])])
    outer = [(0.33 + 0.34 * i / 6, 0.78 - 0.03 * np.sin(np.pi * i / 6)) for i in range(7)]
    lower = [(0.67 - 0.34 * i / 6, 0.78 + 0.05 * np.sin(np.pi * i / 6)) for i in range(1, 6)]
    inner = [(0.37, 0.78), (0.45, 0.77), (0.5, 0.77), (0.55, 0.77), (0.63, 0.78)]
    inner += [(0.55, 0.79), (0.5, 0.79), (0.45, 0.79)]
    mouth = np.array(outer + lower + inner)
    unit = np.vstack([jaw, brows, nose, eyes, mouth])
    assert unit.shape == (68, 2)
    scale = np.array([box.width, box.height], dtype=np.float64)
    points: Landmarks = unit * scale + np.array([box.left, box.top], dtype=np.float64)
    return points


def _overlap(a: BoundingBox, b: BoundingBox) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    return (width * height) / max(min(a.area, b.area), 1)
