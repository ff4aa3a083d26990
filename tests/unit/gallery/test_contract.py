"""The `Gallery` contract, run against every implementation (see conftest.FACTORIES)."""

from __future__ import annotations

import numpy as np
import pytest

from facepay.gallery.ports import Candidate, Gallery
from facepay.shared.errors import Conflict, InvalidInput, NotFound

from .conftest import DIM, MODEL, ids, noisy, unit_vectors


def brute_force(rows: np.ndarray, names: list[str], probe: np.ndarray, k: int) -> list[str]:
    order = np.argsort(-(rows @ probe), kind="stable")[:k]
    return [names[i] for i in order]


def test_an_empty_gallery_finds_nothing(gallery: Gallery) -> None:
    assert len(gallery) == 0
    assert gallery.search(unit_vectors(1)[0], 5) == []
    assert gallery.model_version == MODEL
    assert gallery.dim == DIM


def test_search_returns_the_nearest_templates_best_first(gallery: Gallery) -> None:
    rows, names = unit_vectors(60), ids(60)
    for name, row in zip(names, rows, strict=True):
        gallery.add(name, row)
    probe = noisy(rows[17], seed=1)

    hits = gallery.search(probe, 5)

    assert [h.template_id for h in hits] == brute_force(rows, names, probe, 5)
    assert hits[0].template_id == "p-0017"
    assert hits[0].score == pytest.approx(float(rows[17] @ probe), abs=1e-5)
    assert all(isinstance(h, Candidate) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_k_beyond_the_size_returns_every_template(gallery: Gallery) -> None:
    gallery.add_many(ids(3), unit_vectors(3))
    assert {h.template_id for h in gallery.search(unit_vectors(1, seed=9)[0], 50)} == set(ids(3))


@pytest.mark.parametrize("k", [0, -1, True, 2.0, "3"])
def test_a_bad_k_is_refused(gallery: Gallery, k: object) -> None:
    gallery.add("p-1", unit_vectors(1)[0])
    with pytest.raises(InvalidInput):
        gallery.search(unit_vectors(1)[0], k)  # type: ignore[arg-type]


def _bad_vectors() -> dict[str, object]:
    good = unit_vectors(1)[0]
    nan, inf = good.copy(), good.copy()
    nan[3], inf[5] = np.nan, np.inf
    return {
        "short": good[:127],
        "long": np.append(good, 0.0).astype(np.float32),
        "2-D": good[np.newaxis, :],
        "nan": nan,
        "inf": inf,
        "not unit": good * 2,
        "zero": np.zeros(DIM, dtype=np.float32),
        "integers": np.eye(DIM, dtype=np.int64)[0],
        "a list": [0.0] * DIM,
    }


@pytest.mark.parametrize("name", sorted(_bad_vectors()))
def test_bad_embeddings_are_refused_and_change_nothing(gallery: Gallery, name: str) -> None:
    bad = _bad_vectors()[name]
    with pytest.raises(InvalidInput):
        gallery.add("p-1", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        gallery.search(bad, 1)  # type: ignore[arg-type]
    assert len(gallery) == 0
    assert "p-1" not in gallery


def test_float64_unit_vectors_are_accepted(gallery: Gallery) -> None:
    gallery.add("p-1", unit_vectors(1)[0].astype(np.float64))
    assert gallery.search(unit_vectors(1)[0], 1)[0].template_id == "p-1"


@pytest.mark.parametrize("bad_id", ["", "x" * 129, "tab\there", None, 7])
def test_bad_template_ids_are_refused(gallery: Gallery, bad_id: object) -> None:
    with pytest.raises(InvalidInput):
        gallery.add(bad_id, unit_vectors(1)[0])  # type: ignore[arg-type]
    assert len(gallery) == 0


def test_a_duplicate_id_is_a_conflict_and_keeps_the_first(gallery: Gallery) -> None:
    first, second = unit_vectors(2)
    gallery.add("p-1", first)
    with pytest.raises(Conflict):
        gallery.add("p-1", second)
    assert len(gallery) == 1
    assert gallery.search(second, 1)[0].score == pytest.approx(float(first @ second), abs=1e-5)


def test_a_batch_is_all_or_nothing(gallery: Gallery) -> None:
    gallery.add("p-0000", unit_vectors(1)[0])
    rows = unit_vectors(4, seed=3)
    with pytest.raises(Conflict):
        gallery.add_many(["n-1", "n-2", "n-2", "n-3"], rows)
    with pytest.raises(Conflict):
        gallery.add_many(["n-1", "n-2", "n-3", "p-0000"], rows)
    rows[2, 0] = np.nan
    with pytest.raises(InvalidInput):
        gallery.add_many(["n-1", "n-2", "n-3", "n-4"], rows)
    with pytest.raises(InvalidInput):
        gallery.add_many(["n-1", "n-2"], unit_vectors(3))
    assert len(gallery) == 1
    assert "n-1" not in gallery


def test_contains_and_len_follow_adds_and_removes(gallery: Gallery) -> None:
    gallery.add_many(ids(5), unit_vectors(5))
    gallery.remove("p-0002")
    assert len(gallery) == 4
    assert "p-0002" not in gallery
    assert "p-0003" in gallery
    assert 42 not in gallery


def test_removing_an_unknown_template_is_not_found(gallery: Gallery) -> None:
    gallery.add("p-1", unit_vectors(1)[0])
    with pytest.raises(NotFound):
        gallery.remove("p-2")
    gallery.remove("p-1")
    with pytest.raises(NotFound):
        gallery.remove("p-1")
    assert len(gallery) == 0


def test_a_removed_template_is_never_returned_even_for_its_own_vector(gallery: Gallery) -> None:
    rows, names = unit_vectors(40), ids(40)
    gallery.add_many(names, rows)
    gallery.remove("p-0007")

    hits = gallery.search(rows[7], 40)

    assert "p-0007" not in {h.template_id for h in hits}
    assert len(hits) == 39
    assert [h.template_id for h in hits[:3]] == brute_force(rows, names, rows[7], 4)[1:]


def test_an_id_can_be_enrolled_again_after_removal(gallery: Gallery) -> None:
    old, new = unit_vectors(2)
    gallery.add_many(["p-1", "p-2"], unit_vectors(2, seed=5))
    gallery.add("p-0", old)
    gallery.remove("p-0")
    gallery.add("p-0", new)
    top = gallery.search(new, 1)[0]
    assert top.template_id == "p-0"
    assert top.score == pytest.approx(1.0, abs=1e-5)


def test_random_adds_and_removes_agree_with_brute_force(gallery: Gallery) -> None:
    # Enough removals to pass the HNSW rebuild fraction more than once.
    rng = np.random.default_rng(11)
    rows, names = unit_vectors(200, seed=4), ids(200)
    live: set[int] = set()
    for step in range(400):
        i = int(rng.integers(200))
        if i in live:
            gallery.remove(names[i])
            live.remove(i)
        else:
            gallery.add(names[i], rows[i])
            live.add(i)
        if step % 25 == 0 and live:
            order = sorted(live)
            probe = noisy(rows[order[step % len(order)]], seed=step)
            expected = brute_force(rows[order], [names[j] for j in order], probe, 3)
            hits = gallery.search(probe, 3)
            assert [h.template_id for h in hits] == expected
    assert len(gallery) == len(live)
    assert all(names[i] in gallery for i in live)
