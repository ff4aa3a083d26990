"""What is particular to `FaissGallery`: the switch to HNSW, tombstones and the sealed graph."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.persistence import read_gallery_file
from facepay.shared.errors import InvalidInput

from .conftest import DIM, MODEL, ids, noisy, unit_vectors


def small_hnsw(**overrides: int | float) -> FaissGallery:
    options: dict[str, int | float] = {"hnsw_above": 30, "hnsw_m": 8, "ef_construction": 40}
    options.update(overrides)
    return FaissGallery(dim=DIM, model_version=MODEL, **options)  # type: ignore[arg-type]


def test_the_gallery_switches_to_hnsw_when_it_grows_past_the_size() -> None:
    gallery, rows = small_hnsw(), unit_vectors(60)
    gallery.add_many(ids(30), rows[:30])
    assert not gallery.uses_hnsw
    gallery.add("p-0030", rows[30])
    assert gallery.uses_hnsw
    gallery.add_many(ids(60)[31:], rows[31:])
    for i in (0, 30, 59):
        assert gallery.search(noisy(rows[i], seed=i), 1)[0].template_id == f"p-{i:04d}"


def test_removals_beyond_the_fraction_rebuild_without_the_removed() -> None:
    gallery, rows = small_hnsw(hnsw_above=0, rebuild_fraction=0.1), unit_vectors(100)
    gallery.add_many(ids(100), rows)
    for i in range(25):  # two rebuilds on the way
        gallery.remove(f"p-{i:04d}")
        assert gallery.uses_hnsw
    for i in range(0, 100, 7):
        hits = {h.template_id for h in gallery.search(rows[i], 100)}
        assert len(hits) == 75
        assert not {f"p-{j:04d}" for j in range(25)} & hits


def test_an_hnsw_gallery_saves_its_graph_sealed_and_loads_it_without_rebuilding(
    tmp_path: Path,
) -> None:
    sealer, path, rows = TemplateSealer(b"k" * 32), tmp_path / "g.bin", unit_vectors(80)
    gallery = small_hnsw()
    gallery.add_many(ids(80), rows)
    gallery.save(path, sealer)
    assert read_gallery_file(path, sealer, model_version=MODEL, dim=DIM).index_blob is not None

    # A gallery configured never to use HNSW still gets the saved graph as it was.
    loaded = small_hnsw(hnsw_above=10_000)
    loaded.load(path, sealer)
    assert loaded.uses_hnsw
    probe = noisy(rows[42], seed=1)
    assert loaded.search(probe, 5) == gallery.search(probe, 5)


def test_a_graph_with_tombstones_is_not_written(tmp_path: Path) -> None:
    sealer, path, rows = TemplateSealer(b"k" * 32), tmp_path / "g.bin", unit_vectors(80)
    gallery = small_hnsw(hnsw_above=0)
    gallery.add_many(ids(80), rows)
    gallery.remove("p-0010")
    gallery.save(path, sealer)

    saved = read_gallery_file(path, sealer, model_version=MODEL, dim=DIM)
    assert saved.index_blob is None
    assert "p-0010" not in saved.template_ids
    assert not np.isclose(saved.embeddings @ rows[10], 1.0).any()


def test_a_small_gallery_saves_no_graph(tmp_path: Path) -> None:
    sealer, path = TemplateSealer(b"k" * 32), tmp_path / "g.bin"
    gallery = small_hnsw()
    gallery.add_many(ids(10), unit_vectors(10))
    gallery.save(path, sealer)
    assert read_gallery_file(path, sealer, model_version=MODEL, dim=DIM).index_blob is None


def test_ef_search_can_be_tuned_but_not_to_nonsense() -> None:
    gallery, rows = small_hnsw(hnsw_above=0), unit_vectors(50)
    gallery.add_many(ids(50), rows)
    gallery.set_ef_search(8)
    assert gallery.search(rows[7], 1)[0].template_id == "p-0007"
    with pytest.raises(InvalidInput):
        gallery.set_ef_search(0)


@pytest.mark.parametrize("trigger", ["switch to HNSW", "tombstone purge"])
def test_search_add_and_remove_go_on_during_a_rebuild(
    monkeypatch: pytest.MonkeyPatch, trigger: str
) -> None:
    rows = unit_vectors(120)
    gallery = small_hnsw(hnsw_above=30 if trigger == "switch to HNSW" else 0)
    gallery.add_many(ids(30), rows[:30])
    if trigger == "tombstone purge":
        gallery.add_many(ids(100)[30:], rows[30:100])
    started, release = threading.Event(), threading.Event()
    build = gallery._build

    def slow_build(hnsw: bool, vectors: np.ndarray) -> object:
        started.set()
        assert release.wait(10)
        return build(hnsw, vectors)

    monkeypatch.setattr(gallery, "_build", slow_build)
    if trigger == "switch to HNSW":
        change = threading.Thread(target=gallery.add_many, args=(ids(40)[30:], rows[30:40]))
    else:
        change = threading.Thread(target=lambda: [gallery.remove(n) for n in ids(21)])
    change.start()
    assert started.wait(10)

    # The rebuild is blocked half-way: everything still works against the old index.
    assert gallery.search(rows[25], 1)[0].template_id == "p-0025"
    gallery.add("late", rows[110])
    gallery.remove("p-0026")
    assert gallery.search(rows[110], 1)[0].template_id == "late"
    assert "p-0026" not in {h.template_id for h in gallery.search(rows[26], 200)}

    release.set()
    change.join()
    # The new index has replayed what happened meanwhile.
    assert gallery.uses_hnsw
    assert gallery.search(rows[110], 1)[0].template_id == "late"
    hits = {h.template_id for h in gallery.search(rows[26], 200)}
    assert "p-0026" not in hits
    assert "late" in hits
    if trigger == "tombstone purge":
        assert not set(ids(21)) & hits
        assert len(gallery) == 100 - 21 - 1 + 1
    else:
        assert len(gallery) == 40 - 1 + 1


def test_a_load_during_a_rebuild_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sealer, path, rows = TemplateSealer(b"k" * 32), tmp_path / "g.bin", unit_vectors(50)
    saved = small_hnsw()
    saved.add_many(ids(5, "saved"), rows[40:45])
    saved.save(path, sealer)
    gallery = small_hnsw(hnsw_above=30)
    gallery.add_many(ids(30), rows[:30])
    started, release = threading.Event(), threading.Event()
    build = gallery._build

    def slow_build(hnsw: bool, vectors: np.ndarray) -> object:
        started.set()
        assert release.wait(10)
        return build(hnsw, vectors)

    monkeypatch.setattr(gallery, "_build", slow_build)
    change = threading.Thread(target=gallery.add, args=("p-0030", rows[30]))
    change.start()
    assert started.wait(10)
    monkeypatch.setattr(gallery, "_build", build)
    gallery.load(path, sealer)
    release.set()
    change.join()

    assert len(gallery) == 5
    assert "p-0030" not in gallery
    assert gallery.search(rows[42], 1)[0].template_id == "saved-0002"
