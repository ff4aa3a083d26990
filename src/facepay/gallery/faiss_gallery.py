"""`FaissGallery`: exact `IndexFlatIP` while small, HNSW once the gallery grows past a size.

Template ids are strings; FAISS wants int64 labels, so `IndexIDMap` carries a label per vector
and `_ids[label]` names its template. HNSW cannot delete in place: a removed template becomes a
tombstone that every search excludes (an `IDSelector` inside the graph walk, and again on the
results), and once tombstones pass a fraction of the graph it is rebuilt from the live vectors.

Rebuilds (the switch to HNSW and the tombstone purge) run outside the lock, in the thread whose
change triggered them: searches, adds and removes go on against the old index meanwhile and are
journalled, then replayed on the new index before it is swapped in. A 1M-vector HNSW build takes
minutes; identification must not stop for it.

Scoped search (ports module docstring). Each scope keeps the labels of its templates. A search
over scopes that hold every live template is an ordinary search; otherwise the candidates are
taken from the scopes' labels only: exactly (an `IDSelectorBatch` on the flat index; on HNSW,
the scopes' vectors read back from the graph's flat storage and scored directly) while the
scopes hold at most `exact_scope_limit` templates, and by a filtered HNSW walk (a bitmap
selector, efSearch at least 2k) beyond that. bench/gallery_scopes.py measures both.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
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
from facepay.gallery.memory import top_k
from facepay.gallery.persistence import read_gallery_file, write_gallery_file
from facepay.gallery.ports import UNSCOPED, Candidate, Sealer
from facepay.shared.errors import NotFound
from facepay.vision.types import Embedding

_BUILD_THREADS = faiss.omp_get_max_threads()
"""OpenMP threads for adding vectors (HNSW insertion parallelises well)."""
EXACT_SCOPE_LIMIT = 20_000
"""Scopes holding at most this many templates are searched exactly, larger ones by the filtered
HNSW walk: exact costs ~0.25 µs a template (~5 ms at this size), the walk a few ms whatever the
size (bench/gallery_scopes.py)."""


class _ScopeLabels:
    """The labels of one scope's templates: a growable int64 array; removed labels stay in it
    (every reader drops dead labels) until more than half of it is dead."""

    def __init__(self) -> None:
        self.labels = np.empty(16, dtype=np.int64)
        self.size = 0
        self.live = 0

    def add(self, labels: np.ndarray) -> None:
        if self.size + labels.size > self.labels.size:
            grown = np.empty(max(2 * self.labels.size, self.size + labels.size), dtype=np.int64)
            grown[: self.size] = self.labels[: self.size]
            self.labels = grown
        self.labels[self.size : self.size + labels.size] = labels
        self.size += labels.size
        self.live += labels.size

    def alive(self, alive: np.ndarray) -> np.ndarray:
        """The live labels (compacting the array when it is mostly dead)."""
        stored = self.labels[: self.size]
        found: np.ndarray = stored[alive[stored]]
        if found.size * 2 < self.size:
            self.labels[: found.size] = found
            self.size = found.size
        return found


class FaissGallery:
    """A FAISS-backed gallery; see the module docstring for how removal and the switch work."""

    def __init__(
        self,
        *,
        dim: int,
        model_version: str,
        hnsw_above: int = 20_000,
        hnsw_m: int = 32,
        ef_construction: int = 160,
        ef_search: int = 256,
        rebuild_fraction: float = 0.2,
        exact_scope_limit: int = EXACT_SCOPE_LIMIT,
    ) -> None:
        self._dim, self._model_version = dim, model_version
        self._hnsw_above, self._m = hnsw_above, hnsw_m
        self._ef_construction, self._ef_search = ef_construction, ef_search
        self._rebuild_fraction = rebuild_fraction
        self._exact_scope_limit = exact_scope_limit
        self._lock = threading.Lock()
        self._ids: list[str | None] = []  # label -> template id; None once removed
        self._scope_of: list[str] = []  # label -> scope
        self._alive = np.zeros(0, dtype=bool)  # label -> not removed
        self._scopes: dict[str, _ScopeLabels] = {}
        self._label_of: dict[str, int] = {}
        self._tombstones: set[int] = set()
        self._hnsw = False
        self._index: Any = self._new_index(hnsw=False)
        self._params: Any = None
        self._rebuilding = threading.Lock()  # one rebuild at a time
        self._journal: list[tuple[list[str], np.ndarray, list[str]] | str] | None = None
        self._generation = 0  # bumped by load, so that a rebuild never overwrites loaded contents

    @property
    def model_version(self) -> str:
        """The face model whose embeddings this gallery holds."""
        return self._model_version

    @property
    def dim(self) -> int:
        """The length of every embedding."""
        return self._dim

    @property
    def uses_hnsw(self) -> bool:
        """Whether the index is currently the approximate HNSW graph."""
        return self._hnsw

    def set_ef_search(self, ef_search: int) -> None:
        """Trade HNSW speed for recall at run time (the bench tunes the default with this)."""
        check_k(ef_search)
        with self._lock:
            self._ef_search = ef_search
            self._params = self._search_params()

    def set_exact_scope_limit(self, limit: int) -> None:
        """Scopes up to this size are searched exactly, larger ones by the filtered walk."""
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
        """Enrol a batch all or nothing, switching to HNSW when the gallery grows past the size."""
        rows = check_embeddings(embeddings, dim=self._dim)
        tags = check_scopes(scopes, rows.shape[0])
        with self._lock:
            ids = check_batch(template_ids, rows, self._label_of)
            first = len(self._ids)
            _append(self._index, self._ids, self._label_of, ids, rows)
            self._tag(first, tags)
            if self._journal is not None:
                self._journal.append((ids, rows, tags))
            switch = not self._hnsw and len(self._label_of) > self._hnsw_above
        if switch:
            self._rebuild(hnsw=True)

    def remove(self, template_id: str) -> None:
        """Forget a template; it is never returned again."""
        with self._lock:
            label = self._label_of.pop(template_id, None)
            if label is None:
                raise NotFound(f"template {template_id!r} is not enrolled", code="unknown_template")
            self._ids[label] = None
            self._alive[label] = False
            self._scopes[self._scope_of[label]].live -= 1
            if self._journal is not None:
                self._journal.append(template_id)
            if not self._hnsw:
                self._index.remove_ids(np.array([label], dtype=np.int64))
                return
            self._tombstones.add(label)
            self._params = self._search_params()
            purge = len(self._tombstones) > self._rebuild_fraction * self._index.ntotal
            hnsw = len(self._label_of) > self._hnsw_above
        if purge:
            self._rebuild(hnsw=hnsw)

    def search(
        self, embedding: Embedding, k: int, *, scopes: Collection[str] | None = None
    ) -> list[Candidate]:
        """The up to `k` templates most similar to the probe among `scopes`, best first."""
        probe = check_embedding(embedding, dim=self._dim)
        k = check_k(k)
        wanted = check_search_scopes(scopes)
        with self._lock:
            # One probe gains nothing from threads, and on a busy machine each OpenMP barrier
            # costs milliseconds (bench: p50 8 ms with 2 threads, 0.15 ms with 1). The setting
            # belongs to the calling thread only.
            faiss.omp_set_num_threads(1)
            members = self._members(wanted)
            if members == 0:
                return []
            if members == len(self._label_of):
                scores, labels = self._index.search(probe, min(k, members), params=self._params)
            else:
                assert wanted is not None
                scores, labels = self._search_scopes(probe, min(k, members), wanted)
            hits = zip(scores[0].tolist(), labels[0].tolist(), strict=True)
            return [
                Candidate(tid, score)
                for score, label in hits
                if label >= 0 and (tid := self._ids[label]) is not None
            ]

    def scope_of(self, template_id: str) -> str | None:
        """The template's scope, if enrolled."""
        with self._lock:
            label = self._label_of.get(template_id)
            return None if label is None else self._scope_of[label]

    def _members(self, wanted: frozenset[str] | None) -> int:
        if wanted is None:
            return len(self._label_of)
        return sum(self._scopes[s].live for s in wanted if s in self._scopes)

    def _search_scopes(
        self, probe: np.ndarray, k: int, wanted: frozenset[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, labels) of the k best templates of `wanted` (lock held)."""
        parts = [self._scopes[s].alive(self._alive) for s in sorted(wanted) if s in self._scopes]
        labels = np.concatenate(parts)
        if not self._hnsw:
            batch = faiss.IDSelectorBatch(labels)  # a local: it must outlive the search
            params = faiss.SearchParameters(sel=batch)  # type: ignore[call-arg]
            result: tuple[np.ndarray, np.ndarray] = self._index.search(probe, k, params=params)
            return result
        if labels.size <= self._exact_scope_limit:
            # The graph never compacts, so its flat storage holds label i at position i.
            graph: Any = faiss.downcast_index(self._index.index)
            storage = faiss.downcast_index(graph.storage)
            scores = storage.reconstruct_batch(labels) @ probe[0]
            order = top_k(scores, k)
            return scores[order][np.newaxis, :], labels[order][np.newaxis, :]
        bitmap = np.zeros((len(self._ids) + 7) // 8, dtype=np.uint8)
        np.bitwise_or.at(bitmap, labels >> 3, (1 << (labels & 7)).astype(np.uint8))
        selector = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
        walk = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
            efSearch=max(self._ef_search, 2 * k), sel=selector
        )
        found: tuple[np.ndarray, np.ndarray] = self._index.search(probe, k, params=walk)
        return found

    def _tag(self, first: int, tags: list[str]) -> None:
        """Record the scopes of labels first, first + 1, ... (lock held)."""
        self._scope_of.extend(tags)
        grown = np.ones(first + len(tags), dtype=bool)
        grown[:first] = self._alive[:first]
        self._alive = grown
        by_scope: dict[str, list[int]] = {}
        for offset, tag in enumerate(tags):
            by_scope.setdefault(tag, []).append(first + offset)
        for tag, labels in by_scope.items():
            self._scopes.setdefault(tag, _ScopeLabels()).add(np.array(labels, dtype=np.int64))

    def save(self, path: Path, sealer: Sealer) -> None:
        """Write the templates sealed and, for HNSW, the sealed graph so load needs no rebuild."""
        with self._lock:
            labels, rows = self._live_vectors()
            ids = [self._ids[label] or "" for label in labels.tolist()]
            tags = [self._scope_of[label] for label in labels.tolist()]
            # A graph holding tombstones would put removed templates on disk: leave it out.
            blob = (
                faiss.serialize_index(self._index) if self._hnsw and not self._tombstones else None
            )
        write_gallery_file(
            path,
            sealer,
            model_version=self._model_version,
            template_ids=ids,
            embeddings=rows,
            scopes=tags,
            index_blob=blob,
        )

    def load(self, path: Path, sealer: Sealer) -> None:
        """Replace the contents with the verified templates of `path`."""
        loaded = read_gallery_file(path, sealer, model_version=self._model_version, dim=self._dim)
        blob, count = loaded.index_blob, len(loaded.template_ids)
        index = None if blob is None else self._usable_graph(blob, count)
        with self._lock:
            self._generation += 1
            self._journal, self._tombstones = None, set()
            if index is None:
                # Loading happens at start-up: building here, under the lock, is acceptable.
                hnsw = count > self._hnsw_above
                index = self._build(hnsw, loaded.embeddings)
                self._ids = list(loaded.template_ids)
                self._label_of = {tid: i for i, tid in enumerate(loaded.template_ids)}
                self._index, self._hnsw = index, hnsw
                self._reset_scopes(list(loaded.scopes))
            else:
                labels = faiss.vector_to_array(index.id_map).tolist()
                self._ids = [None] * (max(labels) + 1)
                tags = [UNSCOPED] * len(self._ids)
                for label, tid, tag in zip(labels, loaded.template_ids, loaded.scopes, strict=True):
                    self._ids[label], tags[label] = tid, tag
                self._label_of = dict(zip(loaded.template_ids, labels, strict=True))
                self._index, self._hnsw = index, True
                self._reset_scopes(tags)
            self._params = self._search_params()

    def _reset_scopes(self, tags: list[str]) -> None:
        """Rebuild the scope bookkeeping for labels 0..len(tags)-1 from `_ids` (lock held)."""
        self._scope_of, self._alive, self._scopes = [], np.zeros(0, dtype=bool), {}
        self._tag(0, tags)
        dead = np.array([tid is None for tid in self._ids], dtype=bool)
        self._alive[dead] = False
        for label in np.flatnonzero(dead).tolist():
            self._scopes[tags[label]].live -= 1

    def _usable_graph(self, blob: np.ndarray, count: int) -> Any:
        index: Any = faiss.deserialize_index(blob)
        inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else None
        if (
            not isinstance(inner, faiss.IndexHNSWFlat)
            or inner.d != self._dim
            or not 0 < index.ntotal == count
        ):
            return None  # not a graph this gallery can use: rebuild from the records instead
        inner.hnsw.efSearch = self._ef_search
        return index

    def _new_index(self, *, hnsw: bool) -> Any:
        if not hnsw:
            return faiss.IndexIDMap(faiss.IndexFlatIP(self._dim))
        graph = faiss.IndexHNSWFlat(self._dim, self._m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self._ef_construction
        graph.hnsw.efSearch = self._ef_search
        return faiss.IndexIDMap(graph)

    def _search_params(self) -> Any:
        if not self._hnsw:
            return None
        # faiss's bundled stub lacks SearchParametersHNSW, which the library has had since 1.7.3.
        params = faiss.SearchParametersHNSW(efSearch=self._ef_search)  # type: ignore[attr-defined]
        if self._tombstones:
            removed = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
            batch = faiss.IDSelectorBatch(removed)
            params.sel = faiss.IDSelectorNot(batch)
            params.referenced = (batch, params.sel)  # the SWIG objects must outlive the search
        return params

    def _live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        labels = faiss.vector_to_array(self._index.id_map)
        rows = faiss.downcast_index(self._index.index).reconstruct_n(0, self._index.ntotal)
        if self._tombstones:
            keep = ~np.isin(labels, np.fromiter(self._tombstones, dtype=np.int64))
            labels, rows = labels[keep], rows[keep]
        return labels, rows

    def _build(self, hnsw: bool, rows: np.ndarray) -> Any:
        """A new index holding `rows` under labels 0..n-1 (minutes for 1M HNSW vectors)."""
        index = self._new_index(hnsw=hnsw)
        faiss.omp_set_num_threads(_BUILD_THREADS)
        index.add_with_ids(rows, np.arange(len(rows), dtype=np.int64))
        return index

    def _rebuild(self, *, hnsw: bool) -> None:
        if not self._rebuilding.acquire(blocking=False):
            return  # the rebuild under way replays this change from the journal
        try:
            with self._lock:
                labels, rows = self._live_vectors()
                ids = [self._ids[label] or "" for label in labels.tolist()]
                tags = [self._scope_of[label] for label in labels.tolist()]
                self._journal, generation = [], self._generation
            index = self._build(hnsw, rows)
            with self._lock:
                if generation == self._generation:
                    self._swap_in(index, hnsw, ids, tags)
                self._journal = None
        finally:
            self._rebuilding.release()

    def _swap_in(self, index: Any, hnsw: bool, ids: list[str], tags: list[str]) -> None:
        """Replay the journal on the new index and make it current (lock held)."""
        new_ids: list[str | None] = list(ids)
        new_tags = list(tags)
        label_of = {tid: i for i, tid in enumerate(ids)}
        tombstones: set[int] = set()
        for change in self._journal or []:
            if isinstance(change, str):
                label = label_of.pop(change)
                new_ids[label] = None
                if hnsw:
                    tombstones.add(label)
                else:
                    index.remove_ids(np.array([label], dtype=np.int64))
            else:
                added, rows, added_tags = change
                _append(index, new_ids, label_of, added, rows)
                new_tags.extend(added_tags)
        self._index, self._hnsw, self._ids = index, hnsw, new_ids
        self._label_of, self._tombstones = label_of, tombstones
        self._reset_scopes(new_tags)
        self._params = self._search_params()


def _append(
    index: Any,
    ids: list[str | None],
    label_of: dict[str, int],
    new_ids: list[str],
    rows: np.ndarray,
) -> None:
    """Add rows to `index` under the next free labels and record their ids."""
    labels = np.arange(len(ids), len(ids) + len(new_ids), dtype=np.int64)
    faiss.omp_set_num_threads(_BUILD_THREADS)
    index.add_with_ids(rows, labels)
    ids.extend(new_ids)
    label_of.update(zip(new_ids, labels.tolist(), strict=True))
