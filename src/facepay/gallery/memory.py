"""`InMemoryGallery`: exact search with one numpy matrix product; the reference implementation."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from facepay.gallery.checks import (
    check_batch,
    check_embedding,
    check_embeddings,
    check_k,
    check_scopes,
    check_search_scopes,
)
from facepay.gallery.persistence import read_gallery_file, write_gallery_file
from facepay.gallery.ports import UNSCOPED, Candidate, Sealer
from facepay.shared.errors import NotFound
from facepay.vision.types import Embedding


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


class InMemoryGallery:
    """Exact 1:N search over a growable float32 matrix; fine up to some tens of thousands."""

    def __init__(self, *, dim: int, model_version: str) -> None:
        self._dim, self._model_version = dim, model_version
        self._rows = np.empty((0, dim), dtype=np.float32)
        self._ids: list[str] = []
        self._scopes: list[str] = []
        self._row_of: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def model_version(self) -> str:
        """The face model whose embeddings this gallery holds."""
        return self._model_version

    @property
    def dim(self) -> int:
        """The length of every embedding."""
        return self._dim

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._row_of

    def add(self, template_id: str, embedding: Embedding, *, scope: str = UNSCOPED) -> None:
        """Enrol one template in `scope`; refuses bad vectors and duplicate ids."""
        self.add_many([template_id], check_embedding(embedding, dim=self._dim), scopes=[scope])

    def add_many(
        self,
        template_ids: Sequence[str],
        embeddings: Embedding,
        *,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Enrol a batch all or nothing."""
        rows = check_embeddings(embeddings, dim=self._dim)
        tags = check_scopes(scopes, rows.shape[0])
        with self._lock:
            ids = check_batch(template_ids, rows, self._row_of)
            n = len(self._ids)
            if n + len(ids) > self._rows.shape[0]:
                # Double the capacity so that enrolling one by one stays amortised O(1).
                grown = np.empty((max(2 * n, n + len(ids), 16), self._dim), dtype=np.float32)
                grown[:n] = self._rows[:n]
                self._rows = grown
            self._rows[n : n + len(ids)] = rows
            self._row_of.update((t, n + i) for i, t in enumerate(ids))
            self._ids.extend(ids)
            self._scopes.extend(tags)

    def remove(self, template_id: str) -> None:
        """Forget a template (the last row moves into its place)."""
        with self._lock:
            row = self._row_of.pop(template_id, None)
            if row is None:
                raise NotFound(f"template {template_id!r} is not enrolled", code="unknown_template")
            last = len(self._ids) - 1
            if row != last:
                self._rows[row] = self._rows[last]
                self._ids[row] = self._ids[last]
                self._scopes[row] = self._scopes[last]
                self._row_of[self._ids[row]] = row
            self._ids.pop()
            self._scopes.pop()

    def search(
        self, embedding: Embedding, k: int, *, scopes: Collection[str] | None = None
    ) -> list[Candidate]:
        """The up to `k` templates most similar to the probe among `scopes`, best first (exact)."""
        probe = check_embedding(embedding, dim=self._dim)[0]
        k = check_k(k)
        wanted = check_search_scopes(scopes)
        with self._lock:
            rows = np.arange(len(self._ids))
            if wanted is not None:
                rows = np.array([i for i, s in enumerate(self._scopes) if s in wanted], dtype=int)
            scores = self._rows[rows] @ probe
            return [Candidate(self._ids[rows[i]], float(scores[i])) for i in top_k(scores, k)]

    def scope_of(self, template_id: str) -> str | None:
        """The template's scope, if enrolled."""
        with self._lock:
            row = self._row_of.get(template_id)
            return None if row is None else self._scopes[row]

    def save(self, path: Path, sealer: Sealer) -> None:
        """Write every template, sealed, to `path` (atomically)."""
        with self._lock:
            ids, rows = list(self._ids), self._rows[: len(self._ids)].copy()
            scopes = list(self._scopes)
        write_gallery_file(
            path,
            sealer,
            model_version=self._model_version,
            template_ids=ids,
            embeddings=rows,
            scopes=scopes,
        )

    def load(self, path: Path, sealer: Sealer) -> None:
        """Replace the contents with the verified templates of `path`."""
        loaded = read_gallery_file(path, sealer, model_version=self._model_version, dim=self._dim)
        with self._lock:
            self._rows = loaded.embeddings
            self._ids = list(loaded.template_ids)
            self._scopes = list(loaded.scopes)
            self._row_of = {t: i for i, t in enumerate(self._ids)}
