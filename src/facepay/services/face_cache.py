"""`CachingFaceEngine`: remembers the faces and embeddings of the frames it saw last.

Liveness tracks the face in every frame of a capture; the use case then embeds a few of the
same frames. Without a cache each of those frames is detected twice (the costliest step). Keys
are the frame arrays themselves (by identity, kept alive while cached), so a cached answer is
only ever returned for the very same array, never for another frame at a reused address.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from facepay.vision.engine import FaceEngine
from facepay.vision.types import Embedding, Face, RGBImage

CACHED_FRAMES = 48


class CachingFaceEngine:
    """A `FaceEngine` that answers repeated detect/embed calls on one array from memory."""

    def __init__(self, engine: FaceEngine, *, frames: int = CACHED_FRAMES) -> None:
        self._engine = engine
        self._frames = frames
        self._faces: OrderedDict[int, tuple[RGBImage, list[Face]]] = OrderedDict()
        self._embeddings: OrderedDict[tuple[int, tuple[float, ...]], tuple[RGBImage, Embedding]]
        self._embeddings = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model_version(self) -> str:
        """The wrapped engine's."""
        return self._engine.model_version

    @property
    def embedding_dim(self) -> int:
        """The wrapped engine's."""
        return self._engine.embedding_dim

    @property
    def inner(self) -> FaceEngine:
        """The wrapped engine."""
        return self._engine

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces of `image`, computed once per array."""
        with self._lock:
            hit = self._faces.get(id(image))
            if hit is not None and hit[0] is image:
                return list(hit[1])
        faces = self._engine.detect(image)
        with self._lock:
            self._faces[id(image)] = (image, list(faces))
            while len(self._faces) > self._frames:
                self._faces.popitem(last=False)
        return faces

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """Embedding of `face` in `image`, computed once per array and box."""
        box = face.box
        key = (id(image), (float(box.left), float(box.top), float(box.right), float(box.bottom)))
        with self._lock:
            hit = self._embeddings.get(key)
            if hit is not None and hit[0] is image:
                return hit[1].copy()
        embedding = self._engine.embed(image, face)
        with self._lock:
            self._embeddings[key] = (image, embedding.copy())
            while len(self._embeddings) > self._frames:
                self._embeddings.popitem(last=False)
        return embedding
