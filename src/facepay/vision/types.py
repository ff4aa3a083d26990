"""Value types of the vision context: images, boxes, faces, embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RGBImage = NDArray[np.uint8]
"""An H×W×3 uint8 array in RGB order (never BGR outside the OpenCV calls that need it)."""

Embedding = NDArray[np.float32]
"""A 1-D float32 face embedding, L2-normalised so that the inner product is the cosine."""

Landmarks = NDArray[np.float64]
"""An N×2 array of (x, y) points in the coordinates of the original image (N = 68 for dlib)."""


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """A face rectangle in original-image pixels; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Area in pixels (0 for a degenerate box)."""
        return max(self.width, 0) * max(self.height, 0)


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: its box, the detector's confidence and the 68 landmarks (iBUG order)."""

    box: BoundingBox
    score: float
    landmarks: Landmarks
