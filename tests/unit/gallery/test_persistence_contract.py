"""Saving and loading, for every implementation: only sealed bytes on disk, all or nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.ports import Gallery
from facepay.shared.errors import Conflict, InvalidInput

from .conftest import FACTORIES, GalleryFactory, ids, noisy, unit_vectors


def filled(make_gallery: GalleryFactory, n: int = 50) -> tuple[Gallery, np.ndarray]:
    gallery, rows = make_gallery(), unit_vectors(n)
    gallery.add_many(ids(n), rows)
    return gallery, rows


def test_a_saved_gallery_loads_with_the_same_answers(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery, rows = filled(make_gallery)
    gallery.save(gallery_file, sealer)

    again = make_gallery()
    again.load(gallery_file, sealer)

    assert len(again) == 50
    for i in (0, 13, 49):
        probe = noisy(rows[i], seed=i)
        assert again.search(probe, 5) == gallery.search(probe, 5)


def test_the_file_holds_no_raw_embedding_bytes(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery, rows = filled(make_gallery)
    gallery.save(gallery_file, sealer)
    data = gallery_file.read_bytes()

    for row in rows:
        assert row.astype("<f4").tobytes() not in data
        assert row.astype("<f4").tobytes()[:16] not in data  # not even four leading values
        assert row.astype(np.float64).tobytes()[:32] not in data
    assert stat.S_IMODE(gallery_file.stat().st_mode) == 0o600


def test_a_removed_template_does_not_come_back_from_the_file(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery, rows = filled(make_gallery)
    gallery.remove("p-0003")
    gallery.save(gallery_file, sealer)
    again = make_gallery()
    again.load(gallery_file, sealer)

    assert "p-0003" not in again
    assert rows[3].astype("<f4").tobytes()[:16] not in gallery_file.read_bytes()
    assert "p-0003" not in {h.template_id for h in again.search(rows[3], 50)}


def test_load_replaces_the_contents(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery, _ = filled(make_gallery, n=5)
    gallery.save(gallery_file, sealer)
    other = make_gallery()
    other.add("someone-else", unit_vectors(1, seed=8)[0])
    other.load(gallery_file, sealer)
    assert len(other) == 5
    assert "someone-else" not in other


def test_a_file_of_another_model_is_refused(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    newer = make_gallery(model_version="arcface-r100-v1")
    newer.add_many(ids(5), unit_vectors(5))
    newer.save(gallery_file, sealer)
    gallery, _ = filled(make_gallery, n=3)

    with pytest.raises(Conflict, match="arcface-r100-v1") as caught:
        gallery.load(gallery_file, sealer)

    assert caught.value.code == "model_version_mismatch"
    assert len(gallery) == 3


def test_a_relabelled_model_version_fails_authentication(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    # Editing the plain header to claim the right model cannot make the records open.
    other = make_gallery(model_version="dlib-resnet-v9")
    other.add_many(ids(3), unit_vectors(3))
    other.save(gallery_file, sealer)
    gallery_file.write_bytes(gallery_file.read_bytes().replace(b"resnet-v9", b"resnet-v1"))
    gallery = make_gallery()
    with pytest.raises(InvalidInput) as caught:
        gallery.load(gallery_file, sealer)
    assert caught.value.code == "template_tampered"


def corruptions(data: bytes) -> dict[str, bytes]:
    at = data.index(b"p-0001") + 20  # inside the sealed record of p-0001
    flipped = bytearray(data)
    flipped[at] ^= 0x01
    return {
        "one bit flipped": bytes(flipped),
        "ids swapped": data.replace(b"p-0001", b"p-XXXX")
        .replace(b"p-0002", b"p-0001")
        .replace(b"p-XXXX", b"p-0002"),
        "truncated": data[:-40],
        "cut after the header": data[:200],
        "appended": data + b"\x00" * 8,
        "not a gallery": b"hello" * 100,
        "empty": b"",
    }


@pytest.mark.parametrize("damage", sorted(corruptions(b"p-0001 p-0002" + bytes(64))))
def test_a_damaged_file_is_refused_and_changes_nothing(
    make_gallery: GalleryFactory,
    sealer: TemplateSealer,
    gallery_file: Path,
    damage: str,
) -> None:
    gallery, _ = filled(make_gallery, n=5)
    gallery.save(gallery_file, sealer)
    gallery_file.write_bytes(corruptions(gallery_file.read_bytes())[damage])
    before = gallery.search(unit_vectors(1, seed=3)[0], 5)

    with pytest.raises(InvalidInput):
        gallery.load(gallery_file, sealer)

    assert gallery.search(unit_vectors(1, seed=3)[0], 5) == before


def test_another_key_cannot_load_the_file(
    make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery, _ = filled(make_gallery, n=3)
    gallery.save(gallery_file, sealer)
    with pytest.raises(InvalidInput):
        make_gallery().load(gallery_file, TemplateSealer(b"\x01" * 32))


def test_a_missing_file_is_a_clear_error(
    gallery: Gallery, sealer: TemplateSealer, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        gallery.load(tmp_path / "nope.bin", sealer)


def test_an_empty_gallery_round_trips(
    gallery: Gallery, make_gallery: GalleryFactory, sealer: TemplateSealer, gallery_file: Path
) -> None:
    gallery.save(gallery_file, sealer)
    again = make_gallery()
    again.load(gallery_file, sealer)
    assert len(again) == 0


@pytest.mark.parametrize(("writer", "reader"), [("memory", "faiss-hnsw"), ("faiss-hnsw", "memory")])
def test_files_move_between_implementations(
    sealer: TemplateSealer, gallery_file: Path, writer: str, reader: str
) -> None:
    rows = unit_vectors(30)
    source = FACTORIES[writer]()
    source.add_many(ids(30), rows)
    source.save(gallery_file, sealer)
    target = FACTORIES[reader]()
    target.load(gallery_file, sealer)
    assert target.search(noisy(rows[4], seed=2), 1)[0].template_id == "p-0004"
