"""Scoped search, on every gallery: the best candidates among the templates of the scopes asked
for, exactly as if the gallery held only those, however many other scopes hold the same face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.persistence import write_gallery_file
from facepay.gallery.ports import Gallery
from facepay.shared.errors import InvalidInput

from .conftest import GalleryFactory, ids, noisy, unit_vectors

SCOPES = [f"hospital-{i:02d}" for i in range(25)]


def _brute(rows: np.ndarray, names: list[str], probe: np.ndarray, k: int) -> list[str]:
    order = np.argsort(-(rows @ probe), kind="stable")[:k]
    return [names[i] for i in order]


def test_one_face_in_25_scopes_is_found_in_each(gallery: Gallery) -> None:
    face = unit_vectors(1, seed=42)[0]
    others = unit_vectors(300, seed=7)
    gallery.add_many(ids(300, "o"), others, scopes=[SCOPES[i % 25] for i in range(300)])
    for i, scope in enumerate(SCOPES):
        gallery.add(f"face-{i:02d}", noisy(face, seed=i, sigma=0.005), scope=scope)
    probe = noisy(face, seed=99, sigma=0.02)
    for i, scope in enumerate(SCOPES):
        hits = gallery.search(probe, 10, scopes={scope})
        assert hits[0].template_id == f"face-{i:02d}"
        assert all(gallery.scope_of(h.template_id) == scope for h in hits)
        assert len(hits) == 10
    # Unscoped, the copies crowd everything else out: the reason scoped search exists.
    assert all(h.template_id.startswith("face-") for h in gallery.search(probe, 10))


def test_scoped_search_equals_brute_force_over_the_scope(gallery: Gallery) -> None:
    rng = np.random.default_rng(5)
    rows, names = unit_vectors(240, seed=3), ids(240)
    tags = [SCOPES[int(t)] for t in rng.integers(0, 6, size=240)]
    gallery.add_many(names, rows, scopes=tags)
    removed = set(rng.choice(240, size=60, replace=False).tolist())
    for i in sorted(removed):
        gallery.remove(names[i])
    for step in range(12):
        wanted = {SCOPES[step % 6], SCOPES[(step + 2) % 6]}
        keep = [i for i in range(240) if tags[i] in wanted and i not in removed]
        probe = noisy(rows[keep[step]], seed=step)
        expected = _brute(rows[keep], [names[i] for i in keep], probe, 5)
        assert [h.template_id for h in gallery.search(probe, 5, scopes=wanted)] == expected


def test_an_empty_or_unknown_scope_finds_nothing(gallery: Gallery) -> None:
    gallery.add("p-1", unit_vectors(1)[0], scope="hospital-a")
    probe = unit_vectors(1)[0]
    assert gallery.search(probe, 3, scopes=set()) == []
    assert gallery.search(probe, 3, scopes={"hospital-b"}) == []
    assert [h.template_id for h in gallery.search(probe, 3, scopes={"hospital-a"})] == ["p-1"]
    gallery.remove("p-1")
    assert gallery.search(probe, 3, scopes={"hospital-a"}) == []
    assert gallery.scope_of("p-1") is None


def test_bad_scopes_are_refused(gallery: Gallery) -> None:
    with pytest.raises(InvalidInput):
        gallery.add("p-1", unit_vectors(1)[0], scope="tab\there")
    with pytest.raises(InvalidInput):
        gallery.add_many(ids(2), unit_vectors(2), scopes=["one"])
    with pytest.raises(InvalidInput):
        gallery.search(unit_vectors(1)[0], 1, scopes="hospital-a")  # a string, not a set
    assert len(gallery) == 0


def test_scopes_survive_save_and_load(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    saved = make_gallery()
    rows = unit_vectors(50, seed=8)
    saved.add_many(ids(50), rows, scopes=[SCOPES[i % 3] for i in range(50)])
    saved.remove("p-0004")
    saved.save(gallery_file, sealer)
    loaded = make_gallery()
    loaded.load(gallery_file, sealer)
    assert loaded.scope_of("p-0007") == SCOPES[1]
    for scope in SCOPES[:3]:
        assert loaded.search(rows[7], 4, scopes={scope}) == saved.search(rows[7], 4, scopes={scope})


def test_a_gallery_file_of_the_old_format_is_refused_as_outdated(
    gallery: Gallery, sealer: TemplateSealer, gallery_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("facepay.gallery.persistence.FORMAT", 1)
    write_gallery_file(
        gallery_file, sealer, model_version=gallery.model_version, template_ids=[],
        embeddings=np.empty((0, 128), dtype=np.float32),
    )  # fmt: skip
    monkeypatch.undo()
    with pytest.raises(InvalidInput) as refused:
        gallery.load(gallery_file, sealer)
    assert refused.value.code == "gallery_outdated"
