"""Face-like synthetic embeddings for the gallery benches: clustered like dlib's 128-d ones.

Every template is one identity: a unit vector made of a common direction (embeddings of one model
sit in a cone), one of `groups` demographic-like centres (groups of unequal size) and the
person's own part, which varies in a low-dimensional way (face embeddings have a small intrinsic
dimension). With the defaults, two different people score about 0.3 to 0.6 (higher inside a
group), like dlib's impostor pairs. A probe is another photo of an enrolled person: their
template plus isotropic noise, cosine about 0.95 to it (a genuine pair).

Rows are generated in fixed chunks, each from its own seed, so that a bench can enrol 10M rows
chunk by chunk and later regenerate the same chunks for exact ground truth without ever holding
two copies: `FaceModel(seed).rows(start, stop)` is the same array every time.
"""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np

DIM = 128
CHUNK = 100_000
GENUINE_SIGMA = 0.03
"""Per-component probe noise: cosine 1/sqrt(1 + 128 sigma^2), about 0.95, to the template."""


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


class FaceModel:
    """A deterministic population of face-like templates (see the module doc)."""

    def __init__(self, seed: int = 0, *, groups: int = 256, intrinsic_dim: float = 24) -> None:
        rng = np.random.default_rng([seed, 0])
        self.seed = seed
        self.common = unit(rng.standard_normal(DIM))
        self.centres = unit(rng.standard_normal((groups, DIM)))
        self.weights = rng.dirichlet(np.full(groups, 2.0))
        decay = np.exp(-np.arange(DIM) / intrinsic_dim)
        self.spread = np.sqrt(decay / decay.sum() * DIM).astype(np.float32)
        self.basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)

    def chunk(self, index: int) -> np.ndarray:
        """Rows index*CHUNK .. (index+1)*CHUNK - 1, the same every time."""
        rng = np.random.default_rng([self.seed, 1, index])
        group = rng.choice(len(self.centres), size=CHUNK, p=self.weights)
        own = unit(
            (rng.standard_normal((CHUNK, DIM)).astype(np.float32) * self.spread) @ self.basis.T
        )
        return unit(
            np.sqrt(0.4) * self.common + np.sqrt(0.2) * self.centres[group] + np.sqrt(0.4) * own
        )

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Templates start .. stop - 1."""
        parts = [
            self.chunk(c)[max(start - c * CHUNK, 0) : stop - c * CHUNK]
            for c in range(start // CHUNK, -(-stop // CHUNK))
        ]
        return np.concatenate(parts) if parts else np.empty((0, DIM), dtype=np.float32)

    def blocks(self, n: int, size: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """(start, rows) for templates 0 .. n - 1, `size` at a time."""
        for start in range(0, n, size):
            yield start, self.rows(start, min(start + size, n))

    def probes(self, n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`count` genuine probes of distinct templates among the first n, and their rows."""
        source = np.sort(rng.choice(n, size=count, replace=False))
        templates = np.empty((count, DIM), dtype=np.float32)
        for c in np.unique(source // CHUNK).tolist():
            inside = source // CHUNK == c
            templates[inside] = self.chunk(c)[source[inside] - c * CHUNK]
        noise = rng.normal(0, GENUINE_SIGMA, templates.shape).astype(np.float32)
        return unit(templates + noise), source


def exact_top1(model: FaceModel, n: int, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth by exact search (faiss IndexFlatIP over regenerated chunks): the best row and
    its score for every query, never holding more than one chunk of templates."""
    best = np.full(len(queries), -1, dtype=np.int64)
    score = np.full(len(queries), -np.inf, dtype=np.float32)
    for start, rows in model.blocks(n, 10 * CHUNK):
        flat = faiss.IndexFlatIP(DIM)
        flat.add(rows)
        s, i = flat.search(queries, 1)
        better = s[:, 0] > score
        best[better], score[better] = i[better, 0] + start, s[better, 0]
    return best, score
