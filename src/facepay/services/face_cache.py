"""`CachingFaceEngine`: remembers the faces and embeddings of the frames it saw last.

Liveness tracks the face in every frame of a capture; the use case then embeds a few of the
same frames. Without a cache each of those frames is detected twice (the costliest step). Keys
are the frame arrays themselves, held by weak reference: an answer is only ever returned for
the very same array (never for another frame at a reused address), and the cache never keeps a
frame alive - once a request drops its capture, its frames and their entries are gone, so the
cache holds no memory between requests.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from facepay.vision.engine import FaceEngine, FaceFollower
from facepay.vision.types import Embedding, Face, RGBImage

CACHED_FRAMES = 48
_Box = tuple[float, float, float, float]
K = TypeVar("K")
V = TypeVar("V")


class CachingFaceEngine:
    """A `FaceEngine` that answers repeated detect/embed calls on one array from memory."""

    def __init__(self, engine: FaceEngine, *, frames: int = CACHED_FRAMES) -> None:
        self._engine = engine
        self._frames = frames
        self._faces: OrderedDict[int, tuple[weakref.ref[RGBImage], list[Face]]] = OrderedDict()
        self._embeddings: OrderedDict[tuple[int, _Box], tuple[weakref.ref[RGBImage], Embedding]] = (
            OrderedDict()
        )
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

    def __len__(self) -> int:
        with self._lock:
            return len(self._faces) + len(self._embeddings)

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces of `image`, computed once per array."""
        key = id(image)
        with self._lock:
            hit = self._faces.get(key)
            if hit is not None and hit[0]() is image:
                return list(hit[1])
        faces = self._engine.detect(image)
        with self._lock:
            ref = weakref.ref(image, self._forget(self._faces, key))
            self._faces[key] = (ref, list(faces))
            while len(self._faces) > self._frames:
                self._faces.popitem(last=False)
        return faces

    def follow(self, image: RGBImage, previous: Face, *, confirm: bool = False) -> Face | None:
        """The wrapped engine's `follow` (None when it cannot follow: the caller detects).
        Not cached: a capture follows each frame once."""
        if not isinstance(self._engine, FaceFollower):
            return None
        return self._engine.follow(image, previous, confirm=confirm)

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """Embedding of `face` in `image`, computed once per array and box."""
        box = face.box
        key = (id(image), (float(box.left), float(box.top), float(box.right), float(box.bottom)))
        with self._lock:
            hit = self._embeddings.get(key)
            if hit is not None and hit[0]() is image:
                return hit[1].copy()
        embedding = self._engine.embed(image, face)
        with self._lock:
            ref = weakref.ref(image, self._forget(self._embeddings, key))
            self._embeddings[key] = (ref, embedding.copy())
            while len(self._embeddings) > self._frames:
                self._embeddings.popitem(last=False)
        return embedding

    def _forget(
        self, table: OrderedDict[K, tuple[weakref.ref[RGBImage], V]], key: K
    ) -> Callable[[weakref.ref[RGBImage]], None]:
        """A callback dropping `table[key]` when its array dies (unless the key was reused)."""

        def forget(dead: weakref.ref[RGBImage]) -> None:
            with self._lock:
                entry = table.get(key)
                if entry is not None and entry[0] is dead:
                    del table[key]

        return forget
