"""`FaissIvfGallery`: a compressed index for region-sized galleries (millions of templates).

What it keeps, per template (10M x 128-d in about 8 GB, bench/gallery.py):

- the embedding as given, float32, in fixed blocks of `_Rows` (5.1 GB at 10M): exact re-ranking,
  exact search of small scopes, and saving without loss all read it. Blocks, not one growing
  matrix, so that growing never copies gigabytes;
- its SQ8 code in an `IndexIVFScalarQuantizer` (one byte a dimension, 1.3 GB at 10M), with an
  HNSW graph over the IVF centroids as the coarse quantizer: the candidate generator;
- one dict entry id -> label, the label's id (a pointer to the same string) and an int32 scope
  code: the per-template Python overhead is that dict entry and nothing else.

Exact `numpy` search while the gallery holds at most `ivf_above` templates. Past it the IVF is
trained (spherical k-means, about 2 sqrt(n) lists) and trained again whenever the gallery has
grown four times past the size it was trained for. A search probes `nprobe` lists, takes the best
`rerank` candidates by their SQ8 score and orders them by their exact float32 score.

Removal is immediate: a removed label's bit is cleared in the alive bitmap, which every
approximate search passes to FAISS as its `IDSelectorBitmap`, and its float32 row is zeroed. Its
SQ8 code leaves the IVF lists once removed labels pass `rebuild_fraction` of the index (one
O(n) `remove_ids`). Labels are never reused; the zeroed rows of removed templates are given back
when the gallery is next loaded.

Scoped search (ports module docstring): scopes holding at most `exact_scope_limit` templates are
scored exactly, in place (`faiss.knn_inner_products_by_idx` over the blocks); larger ones (a
region) by the IVF restricted to a bitmap of their labels, probing more lists the smaller the
scope's share, then re-ranked exactly. The bitmaps of the last few scope sets searched are kept
and updated by every add and remove.

Training runs outside the lock in the thread whose add triggered it: searches, adds and removes
go on against the old index (or exact search); the rows added meanwhile join the new index when
it is swapped in. `save` carries the trained IVF, sealed, so `load` needs no training.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facepay.gallery.checks import (
    check_batch,
    check_embedding,
    check_embeddings,
    check_k,
    check_scopes,
    check_search_scopes,
)
from facepay.gallery.faiss_gallery import _ScopeLabels
from facepay.gallery.memory import top_k
from facepay.gallery.persistence import read_gallery_file, write_gallery_records
from facepay.gallery.ports import UNSCOPED, Candidate, Sealer
from facepay.shared.errors import NotFound
from facepay.vision.types import Embedding

_BUILD_THREADS = faiss.omp_get_max_threads()
_BLOCK = 1 << 16
"""Rows per storage block (32 MiB at 128-d)."""
EXACT_SCOPE_LIMIT = 10_000
"""Scope sets up to this size are scored exactly (~0.27 us a member, 1M gallery, busy 2-core
box); larger ones through the IVF with their bitmap, which is faster from about 10k members and
as good for genuine probes, but may miss the best in-scope impostor of a small scope
(bench/gallery_scopes.py: recall@1 0.993 at 17.5k members, 0.943 at 1.9k)."""
_MASKS_KEPT = 8
"""Bitmaps of large scope sets kept between searches (a few regions searched over and over)."""


class _Rows:
    """The float32 embeddings by label, in blocks of `_BLOCK` rows that never move."""

    def __init__(self, dim: int) -> None:
        self.dim, self.size, self.blocks = dim, 0, list[np.ndarray]()

    def append(self, rows: np.ndarray) -> None:
        done = 0
        while done < len(rows):
            if self.size == len(self.blocks) * _BLOCK:
                self.blocks.append(np.empty((_BLOCK, self.dim), dtype=np.float32))
            at = self.size % _BLOCK
            n = min(_BLOCK - at, len(rows) - done)
            self.blocks[-1][at : at + n] = rows[done : done + n]
            self.size, done = self.size + n, done + n

    def adopt(self, matrix: np.ndarray) -> None:
        """Use a loaded matrix as the first rows without copying it (views, one per block)."""
        self.blocks = [matrix[s : s + _BLOCK] for s in range(0, len(matrix), _BLOCK)]
        self.size = len(matrix)
        if self.blocks and len(self.blocks[-1]) < _BLOCK:  # a full block to append into
            tail = np.empty((_BLOCK, self.dim), dtype=np.float32)
            tail[: len(self.blocks[-1])] = self.blocks[-1]
            self.blocks[-1] = tail

    def take(self, labels: np.ndarray) -> np.ndarray:
        """The rows of `labels`, in that order."""
        out = np.empty((labels.size, self.dim), dtype=np.float32)
        block = labels >> 16
        if labels.size and block[0] == block[-1] and (block == block[0]).all():
            out[:] = self.blocks[int(block[0])][labels & (_BLOCK - 1)]
            return out
        for b in np.unique(block).tolist():
            inside = block == b
            out[inside] = self.blocks[b][labels[inside] & (_BLOCK - 1)]
        return out

    def best(self, labels: np.ndarray, probe: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, exact scores) of the k rows of `labels` most similar to the probe: FAISS
        scores the rows in place, block by block (no gathered copy; 3-6x numpy's take + matvec
        on a busy machine)."""
        labels = np.sort(labels)
        bounds = np.searchsorted(labels, np.arange(len(self.blocks) + 1) * _BLOCK)
        found, scores = [], []
        for b in np.flatnonzero(np.diff(bounds)).tolist():
            local = labels[bounds[b] : bounds[b + 1]] & (_BLOCK - 1)
            n = min(k, local.size)
            vals, ids = np.empty((1, n), dtype=np.float32), np.empty((1, n), dtype=np.int64)
            faiss.knn_inner_products_by_idx(  # type: ignore[attr-defined]
                faiss.swig_ptr(probe), faiss.swig_ptr(self.blocks[b]), faiss.swig_ptr(local),
                self.dim, 1, len(self.blocks[b]), local.size, n, faiss.swig_ptr(vals),
                faiss.swig_ptr(ids), -1,
            )  # fmt: skip
            keep = ids[0] >= 0
            found.append(ids[0][keep] + b * _BLOCK)
            scores.append(vals[0][keep])
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(found), np.concatenate(scores)

    def zero(self, label: int) -> None:
        self.blocks[label >> 16][label & (_BLOCK - 1)] = 0.0

    def spans(self, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first label, rows) of every block up to label `stop`."""
        for b, block in enumerate(self.blocks):
            start = b * _BLOCK
            if start >= stop:
                return
            yield start, block[: min(_BLOCK, stop - start)]


class _Bits:
    """A growable packed bitmap over labels, as FAISS's `IDSelectorBitmap` reads it."""

    def __init__(self) -> None:
        self.bytes = np.zeros(8, dtype=np.uint8)

    def grow(self, labels: int) -> None:
        need = (labels + 7) // 8
        if need > self.bytes.size:
            grown = np.zeros(max(need, 2 * self.bytes.size), dtype=np.uint8)
            grown[: self.bytes.size] = self.bytes
            self.bytes = grown

    def set(self, labels: np.ndarray, value: bool) -> None:
        """Set (or clear) the bits of `labels`, in O(len + their span / 8)."""
        if not labels.size:
            return
        low, high = int(labels.min()) & ~7, int(labels.max()) + 1
        self.grow(high)
        mask = np.zeros(-(-(high - low) // 8) * 8, dtype=bool)
        mask[labels - low] = True
        packed = np.packbits(mask, bitorder="little")
        part = self.bytes[low // 8 : low // 8 + packed.size]
        if value:
            part |= packed
        else:
            part &= ~packed

    def clear(self, label: int) -> None:
        self.bytes[label >> 3] &= np.uint8(0xFF ^ (1 << (label & 7)))

    def selector(self) -> Any:
        return faiss.IDSelectorBitmap(self.bytes.size, faiss.swig_ptr(self.bytes))


def _room(array: np.ndarray, size: int) -> np.ndarray:
    """`array`, or a copy twice as long (zero-filled), so that it holds `size` items."""
    if size <= array.size:
        return array
    grown = np.zeros(max(size, 2 * array.size, 16), dtype=array.dtype)
    grown[: array.size] = array
    return grown


class FaissIvfGallery:
    """A gallery of float32 rows and an IVF-SQ8 candidate index; see the module docstring."""

    def __init__(
        self,
        *,
        dim: int,
        model_version: str,
        ivf_above: int = 100_000,
        nprobe: int = 16,
        rerank: int = 32,
        rebuild_fraction: float = 0.2,
        exact_scope_limit: int = EXACT_SCOPE_LIMIT,
    ) -> None:
        self._dim, self._model_version = dim, model_version
        self._ivf_above, self._nprobe, self._rerank = ivf_above, check_k(nprobe), check_k(rerank)
        self._rebuild_fraction, self._exact_scope_limit = rebuild_fraction, exact_scope_limit
        self._lock, self._rebuilding = threading.Lock(), threading.Lock()
        self._generation = 0  # bumped by load: a training started before never swaps in
        self._clear()

    def _clear(self) -> None:
        self._rows = _Rows(self._dim)
        self._ids: list[str | None] = []  # label -> template id; None once removed
        self._label_of: dict[str, int] = {}
        self._code = np.zeros(0, dtype=np.int32)  # label -> scope code (spare room at the end)
        self._scope_names: list[str] = []
        self._scope_codes: dict[str, int] = {}
        self._scopes: list[_ScopeLabels] = []  # by code
        self._alive = np.zeros(0, dtype=bool)  # label -> not removed (False past the last label)
        self._bits = _Bits()  # the alive labels, for FAISS
        self._masks: dict[frozenset[int], _Bits] = {}  # scope codes -> their alive labels
        self._index: Any = None
        self._trained_for = 0
        self._stale = 0  # removed labels whose codes are still in the IVF lists
        self._saving = 0
        self._unzeroed: list[int] = []  # rows to zero once the saves under way are done

    @property
    def model_version(self) -> str:
        """The face model whose embeddings this gallery holds."""
        return self._model_version

    @property
    def dim(self) -> int:
        """The length of every embedding."""
        return self._dim

    @property
    def uses_ivf(self) -> bool:
        """Whether searches go through the trained IVF index (else exact)."""
        return self._index is not None

    @property
    def nlist(self) -> int:
        """The IVF's number of lists (0 while exact)."""
        return 0 if self._index is None else int(self._index.nlist)

    def set_nprobe(self, nprobe: int) -> None:
        """Trade speed for recall at run time (the bench tunes the default with this)."""
        with self._lock:
            self._nprobe = check_k(nprobe)
            self._tune_quantizer()

    def set_rerank(self, rerank: int) -> None:
        """How many SQ8 candidates are re-scored exactly."""
        with self._lock:
            self._rerank = check_k(rerank)

    def set_exact_scope_limit(self, limit: int) -> None:
        """Scopes up to this size are searched exactly, larger ones through the IVF."""
        with self._lock:
            self._exact_scope_limit = max(0, int(limit))

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._label_of

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
        """Enrol a batch all or nothing; trains the IVF when the gallery has grown enough."""
        rows = check_embeddings(embeddings, dim=self._dim)
        tags = check_scopes(scopes, rows.shape[0])
        with self._lock:
            ids = check_batch(template_ids, rows, self._label_of)
            first = self._rows.size
            self._rows.append(rows)
            self._ids.extend(ids)
            self._label_of.update(zip(ids, range(first, first + len(ids)), strict=True))
            self._tag(first, tags)
            if self._index is not None:
                # Threads pay off for big batches only: on a busy machine every OpenMP barrier
                # costs milliseconds (9 rows took 23 ms with 2 threads, 0.1 ms with one).
                faiss.omp_set_num_threads(_BUILD_THREADS if len(ids) >= _BLOCK // 16 else 1)
                self._index.add_with_ids(rows, np.arange(first, first + len(ids)))
            live = len(self._label_of)
            train = live > self._ivf_above and live > 4 * self._trained_for
        if train:
            self._train()

    def _tag(self, first: int, tags: list[str]) -> None:
        """Record the scopes of labels first, first + 1, ... as alive (lock held)."""
        codes = np.array([self._code_for(t) for t in tags], dtype=np.int32)
        labels = np.arange(first, first + len(tags), dtype=np.int64)
        stop = first + len(tags)
        self._code, self._alive = _room(self._code, stop), _room(self._alive, stop)
        self._code[first:stop], self._alive[first:stop] = codes, True
        self._bits.set(labels, True)
        for code in np.unique(codes).tolist():
            self._scopes[code].add(labels[codes == code])
        for key, mask in self._masks.items():
            mask.set(labels[np.isin(codes, list(key))], True)

    def _code_for(self, scope: str) -> int:
        code = self._scope_codes.get(scope)
        if code is None:
            code = self._scope_codes[scope] = len(self._scope_names)
            self._scope_names.append(scope)
            self._scopes.append(_ScopeLabels())
        return code

    def remove(self, template_id: str) -> None:
        """Forget a template: no search returns it from now on."""
        with self._lock:
            label = self._label_of.pop(template_id, None)
            if label is None:
                raise NotFound(f"template {template_id!r} is not enrolled", code="unknown_template")
            self._ids[label] = None
            self._alive[label] = False
            self._bits.clear(label)
            for mask in self._masks.values():
                mask.clear(label)
            self._scopes[int(self._code[label])].live -= 1
            if self._saving:
                self._unzeroed.append(label)
            else:
                self._rows.zero(label)
            if self._index is not None:
                self._stale += 1
                if self._stale > self._rebuild_fraction * self._index.ntotal:
                    self._purge()

    def _purge(self) -> None:
        """Drop every removed label's code from the IVF lists (lock held; O(n))."""
        faiss.omp_set_num_threads(_BUILD_THREADS)
        self._index.remove_ids(faiss.IDSelectorNot(self._bits.selector()))
        self._stale = 0

    def search(
        self, embedding: Embedding, k: int, *, scopes: Collection[str] | None = None
    ) -> list[Candidate]:
        """The up to `k` templates most similar to the probe among `scopes`, best first."""
        probe = check_embedding(embedding, dim=self._dim)
        k = check_k(k)
        wanted = check_search_scopes(scopes)
        with self._lock:
            faiss.omp_set_num_threads(1)  # see FaissGallery.search
            live = len(self._label_of)
            codes = (
                None
                if wanted is None
                else frozenset(self._scope_codes[s] for s in wanted if s in self._scope_codes)
            )
            members = live if codes is None else sum(self._scopes[c].live for c in codes)
            if members == 0:
                return []
            k = min(k, members)
            if codes is not None and members < live and members <= self._exact_scope_limit:
                parts = [self._scopes[c].alive(self._alive) for c in sorted(codes)]
                labels, scores = self._rows.best(np.concatenate(parts), probe, k)
            elif self._index is None:
                labels, scores = self._exact_all(probe, k, codes)
            else:
                labels = self._candidates(probe, k, None if members == live else codes, members)
                scores = self._rows.take(labels) @ probe[0]
            order = top_k(scores, k)
            return [
                Candidate(tid, float(scores[i]))
                for i in order.tolist()
                if (tid := self._ids[int(labels[i])]) is not None
            ]

    def _exact_all(
        self, probe: np.ndarray, k: int, codes: frozenset[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores) of the k best among `codes` (None: all), exactly."""
        keep = self._alive[: self._rows.size]
        if codes is not None:
            keep = keep & np.isin(self._code[: self._rows.size], list(codes))
        return self._rows.best(np.flatnonzero(keep), probe, k)

    def _candidates(
        self, probe: np.ndarray, k: int, codes: frozenset[int] | None, members: int
    ) -> np.ndarray:
        """The labels of the best SQ8 candidates among `codes` (None: all), for re-ranking."""
        nprobe = self._nprobe
        if codes is None:
            selector = self._bits.selector() if self._stale else None
        else:
            # A scope holding a small share of the gallery has fewer members per list: probe
            # more lists so that about as many of its members are scored. Capped: 32x instead
            # of 8x lifted impostor recall@1 at 10k of 1M from 0.983 to 0.997 but the CPU p99
            # from 2.4 to 5.5 ms (bench/gallery_scopes.py).
            share = members / max(1, len(self._label_of))
            nprobe = min(8 * nprobe, math.ceil(nprobe / share))
            selector = self._mask(codes).selector()
        params = faiss.SearchParametersIVF(  # type: ignore[call-arg]
            nprobe=min(nprobe, self._index.nlist), sel=selector
        )
        _, found = self._index.search(probe, max(k, self._rerank), params=params)
        labels: np.ndarray = found[0][found[0] >= 0]
        if labels.size < k:  # the lists probed hold fewer than k: look at every list instead
            params.nprobe = self._index.nlist
            _, found = self._index.search(probe, max(k, self._rerank), params=params)
            labels = found[0][found[0] >= 0]
        return labels

    def _mask(self, codes: frozenset[int]) -> _Bits:
        """The bitmap of the alive labels of `codes`, built once and then kept up to date."""
        mask = self._masks.pop(codes, None)
        if mask is None:
            mask = _Bits()
            mask.grow(self._rows.size)
            for code in codes:
                mask.set(self._scopes[code].alive(self._alive), True)
            if len(self._masks) >= _MASKS_KEPT:
                self._masks.pop(next(iter(self._masks)))
        self._masks[codes] = mask  # most recently used last
        return mask

    def scope_of(self, template_id: str) -> str | None:
        """The template's scope, if enrolled."""
        with self._lock:
            label = self._label_of.get(template_id)
            return None if label is None else self._scope_names[int(self._code[label])]

    # Training -------------------------------------------------------------------------------

    def _train(self) -> None:
        """Train a new IVF on the rows there are and swap it in (not under the lock)."""
        if not self._rebuilding.acquire(blocking=False):
            return  # the training under way takes this change in when it swaps in
        try:
            with self._lock:
                stop, generation, rows = self._rows.size, self._generation, self._rows
                live = np.flatnonzero(self._alive[:stop])
            if not live.size:
                return
            index = self._build(rows, live)
            with self._lock:
                if generation == self._generation:
                    later = np.flatnonzero(self._alive[stop:]) + stop
                    if later.size:
                        index.add_with_ids(self._rows.take(later), later)
                    self._index, self._trained_for = index, live.size + later.size
                    self._stale = int(live.size - np.count_nonzero(self._alive[live]))
                    self._tune_quantizer()
        finally:
            self._rebuilding.release()

    def _build(self, rows: _Rows, labels: np.ndarray) -> Any:
        """A trained IVF-SQ8 holding the rows of `labels` (rows read without the lock: only the
        rows of templates removed meanwhile change, and those labels are dead anyway)."""
        faiss.omp_set_num_threads(_BUILD_THREADS)
        nlist = max(1, min(round(2 * math.sqrt(labels.size)), labels.size // 8))
        rng = np.random.default_rng(labels.size)
        picked = np.sort(rng.choice(labels, size=min(labels.size, 32 * nlist), replace=False))
        sample = rows.take(picked)
        kmeans = faiss.Kmeans(
            self._dim, nlist, niter=10, spherical=True, seed=1, min_points_per_centroid=1,
            max_points_per_centroid=1 << 30,
        )  # fmt: skip
        kmeans.train(sample)
        quantizer = faiss.IndexHNSWFlat(self._dim, 32, faiss.METRIC_INNER_PRODUCT)
        quantizer.add(kmeans.centroids)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self._dim, nlist, faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT, True,
        )  # fmt: skip
        index.train(sample)
        for start in range(0, labels.size, _BLOCK):
            part = labels[start : start + _BLOCK]
            index.add_with_ids(rows.take(part), part)
        return index

    def _tune_quantizer(self) -> None:
        if self._index is not None:
            quantizer: Any = faiss.downcast_index(self._index.quantizer)
            if isinstance(quantizer, faiss.IndexHNSW):  # a saved IVF may have a flat one
                quantizer.hnsw.efSearch = max(64, 2 * self._nprobe)

    # Saving and loading ---------------------------------------------------------------------

    def save(self, path: Path, sealer: Sealer) -> None:
        """Write the templates sealed, with the sealed IVF, so that load needs no training."""
        with self._lock:
            stop = self._rows.size
            live = np.flatnonzero(self._alive[:stop])
            ids = [self._ids[label] or "" for label in live.tolist()]
            tags = [self._scope_names[c] for c in self._code[live].tolist()]
            blob = None
            if self._index is not None:
                if self._stale:
                    self._purge()  # no removed template's code reaches the disk
                blob = faiss.serialize_index(self._index)
            self._saving += 1  # rows of templates removed from now on stay until the file is done
        try:
            write_gallery_records(
                path,
                sealer,
                model_version=self._model_version,
                dim=self._dim,
                template_ids=ids,
                scopes=tags,
                rows=_blocks_of(self._rows, live),
                index_blob=blob,
            )
        finally:
            with self._lock:
                self._saving -= 1
                if not self._saving:
                    for label in self._unzeroed:
                        self._rows.zero(label)
                    self._unzeroed = []

    def load(self, path: Path, sealer: Sealer) -> None:
        """Replace the contents with the verified templates of `path`."""
        loaded = read_gallery_file(path, sealer, model_version=self._model_version, dim=self._dim)
        count = len(loaded.template_ids)
        index = None if loaded.index_blob is None else self._usable_index(loaded.index_blob, count)
        with self._lock:
            self._generation += 1
            self._clear()
            self._rows.adopt(loaded.embeddings)
            self._ids = list(loaded.template_ids)
            self._label_of = dict(zip(loaded.template_ids, range(count), strict=True))
            self._tag(0, loaded.scopes)
            self._index = index
            self._trained_for = count if index is not None else 0
            self._tune_quantizer()
            train = index is None and count > self._ivf_above
        if train:
            self._train()

    def _usable_index(self, blob: np.ndarray, count: int) -> Any:
        """The saved IVF relabelled to 0..count-1 (the file holds the live rows in label
        order), or None if it is not one this gallery can use."""
        index: Any = faiss.deserialize_index(blob)
        if (
            not isinstance(index, faiss.IndexIVFScalarQuantizer)
            or index.d != self._dim
            or index.metric_type != faiss.METRIC_INNER_PRODUCT
            or index.ntotal != count
        ):
            return None
        lists: Any = index.invlists
        views = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i))
            for i in range(index.nlist)
            if lists.list_size(i)
        ]
        old = np.sort(np.concatenate(views)) if views else np.zeros(0, dtype=np.int64)
        if old.size != count or (old.size and (np.diff(old) <= 0).any()):
            return None
        for view in views:
            view[:] = np.searchsorted(old, view)
        return index


def _blocks_of(rows: _Rows, labels: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of `labels`, a block at a time (never a copy of the whole gallery)."""
    for start in range(0, labels.size, _BLOCK):
        yield rows.take(labels[start : start + _BLOCK])
