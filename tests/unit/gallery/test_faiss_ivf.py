"""What is particular to `FaissIvfGallery`: training, removal from the IVF, the sealed index."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.faiss_ivf import FaissIvfGallery
from facepay.gallery.persistence import read_gallery_file

from .conftest import DIM, MODEL, ids, noisy, unit_vectors


def ivf(**options: int | float) -> FaissIvfGallery:
    return FaissIvfGallery(dim=DIM, model_version=MODEL, **options)  # type: ignore[arg-type]


def test_exact_until_the_size_then_an_ivf_trained_again_as_it_grows() -> None:
    gallery, rows = ivf(ivf_above=100), unit_vectors(2_000)
    gallery.add_many(ids(100), rows[:100])
    assert not gallery.uses_ivf
    gallery.add("p-0100", rows[100])
    assert gallery.uses_ivf
    first = gallery.nlist
    gallery.add_many(ids(2_000)[101:], rows[101:])
    assert gallery.nlist > first  # trained again past four times the size
    for i in (0, 100, 1_999):
        assert gallery.search(noisy(rows[i], seed=i), 1)[0].template_id == f"p-{i:04d}"


def test_scores_are_exact_after_re_ranking() -> None:
    gallery, rows = ivf(ivf_above=0), unit_vectors(500)
    gallery.add_many(ids(500), rows)
    probe = noisy(rows[7], seed=3)
    hits = gallery.search(probe, 5)
    assert hits[0].template_id == "p-0007"
    exact = [float(rows[int(h.template_id[2:])] @ probe) for h in hits]
    assert [h.score for h in hits] == pytest.approx(exact, abs=1e-6)  # not the SQ8 estimates


def test_removal_is_immediate_and_purges_the_codes_past_the_fraction() -> None:
    gallery, rows = ivf(ivf_above=0, rebuild_fraction=0.1), unit_vectors(300)
    gallery.add_many(ids(300), rows)
    gallery.remove("p-0005")
    assert "p-0005" not in {h.template_id for h in gallery.search(rows[5], 300)}
    assert gallery._index.ntotal == 300  # still in the lists, excluded by the alive bitmap
    for i in range(6, 40):
        gallery.remove(f"p-{i:04d}")
    assert gallery._index.ntotal < 300  # purged on the way
    assert not np.any(gallery._rows.take(np.arange(5, 40)))  # removed rows are zeroed
    hits = gallery.search(rows[20], 300)
    assert len(hits) == 300 - 35


def test_a_large_scope_is_searched_through_the_ivf_within_the_scope() -> None:
    gallery, rows = ivf(ivf_above=0, exact_scope_limit=10), unit_vectors(400)
    tags = ["region" if i % 10 else "site" for i in range(400)]
    gallery.add_many(ids(400), rows, scopes=tags)
    for i in (1, 10, 33):
        hits = gallery.search(rows[i], 5, scopes={tags[i]})
        assert hits[0].template_id == f"p-{i:04d}"
        assert {gallery.scope_of(h.template_id) for h in hits} == {tags[i]}
    gallery.remove("p-0033")  # the kept bitmap of {"region"} follows removals and adds
    gallery.add("late", rows[33], scope="region")
    assert gallery.search(rows[33], 1, scopes={"region"})[0].template_id == "late"
    both = gallery.search(rows[10], 3, scopes={"region", "site"})
    assert both[0].template_id == "p-0010"


def test_the_saved_file_carries_the_index_and_load_does_not_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealer, path, rows = TemplateSealer(b"k" * 32), tmp_path / "g.bin", unit_vectors(600)
    gallery = ivf(ivf_above=0)
    gallery.add_many(ids(600), rows, scopes=[f"s{i % 3}" for i in range(600)])
    for i in range(0, 600, 7):
        gallery.remove(f"p-{i:04d}")  # labels with gaps: the saved index is relabelled on load
    gallery.save(path, sealer)
    assert read_gallery_file(path, sealer, model_version=MODEL, dim=DIM).index_blob is not None

    loaded = ivf(ivf_above=0)
    monkeypatch.setattr(loaded, "_build", lambda rows, labels: pytest.fail("trained on load"))
    loaded.load(path, sealer)
    assert loaded.uses_ivf
    assert len(loaded) == len(gallery)
    for i in (1, 300, 599):
        probe = noisy(rows[i], seed=i)
        assert loaded.search(probe, 5) == gallery.search(probe, 5)
        assert loaded.search(probe, 5, scopes={"s1"}) == gallery.search(probe, 5, scopes={"s1"})
    assert "p-0007" not in loaded


def test_search_add_and_remove_go_on_while_the_ivf_trains(monkeypatch: pytest.MonkeyPatch) -> None:
    gallery, rows = ivf(ivf_above=30), unit_vectors(120)
    gallery.add_many(ids(30), rows[:30])
    started, release = threading.Event(), threading.Event()
    build = gallery._build

    def slow_build(*args: object) -> object:
        started.set()
        assert release.wait(10)
        return build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(gallery, "_build", slow_build)
    change = threading.Thread(target=gallery.add_many, args=(ids(40)[30:], rows[30:40]))
    change.start()
    assert started.wait(10)

    assert not gallery.uses_ivf  # still exact while it trains
    assert gallery.search(rows[25], 1)[0].template_id == "p-0025"
    gallery.add("late", rows[110])
    gallery.remove("p-0026")
    assert gallery.search(rows[110], 1)[0].template_id == "late"

    release.set()
    change.join()
    assert gallery.uses_ivf
    hits = {h.template_id for h in gallery.search(rows[26], 200)}
    assert "late" in hits  # added meanwhile, joined the new index
    assert "p-0026" not in hits  # removed meanwhile, excluded
    assert len(hits) == len(gallery) == 40
