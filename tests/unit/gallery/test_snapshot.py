"""`GallerySnapshot`: a sealed base plus an append-only sealed log, for restarts without rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.ports import Gallery
from facepay.gallery.snapshot import GalleryChange, GallerySnapshot
from facepay.shared.errors import Conflict, InvalidInput

from .conftest import DIM, FACTORIES, MODEL, ids, noisy, unit_vectors

KINDS = ["memory", "faiss-hnsw", "faiss-ivf"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def snapshot(path: Path, sealer: TemplateSealer, model: str = MODEL) -> GallerySnapshot:
    return GallerySnapshot(path, sealer, model_version=model, dim=DIM)


def enrolled(kind: str, n: int = 40) -> tuple[Gallery, np.ndarray]:
    gallery, rows = FACTORIES[kind](), unit_vectors(n)
    gallery.add_many(ids(n), rows, scopes=[f"site-{i % 3}" for i in range(n)])
    return gallery, rows


def adds(names: list[str], rows: np.ndarray, scope: str = "site-9") -> list[GalleryChange]:
    return [GalleryChange("add", n, scope, r) for n, r in zip(names, rows, strict=True)]


def test_a_base_round_trips_with_its_position(
    kind: str, sealer: TemplateSealer, tmp_path: Path
) -> None:
    gallery, rows = enrolled(kind)
    snapshot(tmp_path / "g", sealer).write_base(gallery, position=17)

    fresh = FACTORIES[kind]()
    assert snapshot(tmp_path / "g", sealer).load_into(fresh) == 17
    assert len(fresh) == 40
    assert fresh.scope_of("p-0004") == "site-1"
    probe = noisy(rows[5], seed=1)
    assert fresh.search(probe, 5) == gallery.search(probe, 5)


def test_appended_changes_are_replayed_after_the_base(
    kind: str, sealer: TemplateSealer, tmp_path: Path
) -> None:
    gallery, _ = enrolled(kind)
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=100)
    new = unit_vectors(5, seed=9)
    snap.append(adds(ids(5, "n"), new), position=101)
    snap.append(
        [GalleryChange("remove", "p-0003"), GalleryChange("remove", "n-0001")], position=105
    )
    snap.append([GalleryChange("add", "p-0003", "site-0", new[1])], position=106)  # re-enrolled
    size_before = snap.log_path.stat().st_size
    snap.append([GalleryChange("remove", "p-0010")], position=107)
    assert snap.log_path.stat().st_size - size_before < 400  # one small record, not the gallery

    fresh = FACTORIES[kind]()
    assert snapshot(tmp_path / "g", sealer).load_into(fresh) == 107
    assert len(fresh) == 40 + 5 - 2 - 1 + 1
    assert "n-0001" not in fresh
    assert "p-0010" not in fresh
    assert fresh.scope_of("p-0003") == "site-0"
    assert fresh.search(new[1], 1)[0].template_id == "p-0003"
    assert fresh.search(noisy(new[4], seed=2), 1, scopes={"site-9"})[0].template_id == "n-0004"


def test_a_record_cut_short_by_a_crash_is_ignored_then_overwritten(
    sealer: TemplateSealer, tmp_path: Path
) -> None:
    gallery, _ = enrolled("memory")
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=1)
    new = unit_vectors(3, seed=4)
    snap.append(adds(["a"], new[:1]), position=2)
    whole = snap.log_path.stat().st_size
    snap.append(adds(["b"], new[1:2]), position=3)
    with snap.log_path.open("r+b") as f:
        f.truncate(whole + 30)  # the second record only partly reached the disk

    fresh = FACTORIES["memory"]()
    again = snapshot(tmp_path / "g", sealer)
    assert again.load_into(fresh) == 2
    assert "a" in fresh
    assert "b" not in fresh
    again.append(adds(["c"], new[2:]), position=3)  # cuts the torn bytes off first
    fresh = FACTORIES["memory"]()
    assert snapshot(tmp_path / "g", sealer).load_into(fresh) == 3
    assert "c" in fresh
    assert "b" not in fresh


def _three_records(sealer: TemplateSealer, tmp_path: Path) -> tuple[GallerySnapshot, list[int]]:
    gallery, _ = enrolled("memory")
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=1)
    ends = [snap.log_path.stat().st_size]
    for i, row in enumerate(unit_vectors(3, seed=6)):
        snap.append(adds([f"x-{i}"], row[np.newaxis]), position=2 + i)
        ends.append(snap.log_path.stat().st_size)
    return snap, ends


@pytest.mark.parametrize("damage", ["bit flipped", "middle dropped", "swapped", "garbage appended"])
def test_a_tampered_log_is_refused_and_the_gallery_left_alone(
    sealer: TemplateSealer, tmp_path: Path, damage: str
) -> None:
    snap, ends = _three_records(sealer, tmp_path)
    data = snap.log_path.read_bytes()
    first, second, third = (data[ends[i] : ends[i + 1]] for i in range(3))
    head = data[: ends[0]]
    damaged = {
        "bit flipped": data[: ends[1] - 40]
        + bytes([data[ends[1] - 40] ^ 1])
        + data[ends[1] - 39 :],
        "middle dropped": head + first + third,
        "swapped": head + first + third + second,
        "garbage appended": data + third,
    }[damage]
    snap.log_path.write_bytes(damaged)
    gallery = FACTORIES["memory"]()
    gallery.add("someone", unit_vectors(1, seed=3)[0])

    again = snapshot(tmp_path / "g", sealer)
    assert again.load_into(gallery) is None
    assert isinstance(again.refusal, InvalidInput)
    assert len(gallery) == 1
    with pytest.raises(InvalidInput):
        again.append([], position=9)  # nor is anything appended to it


def test_a_tampered_base_is_refused(sealer: TemplateSealer, tmp_path: Path) -> None:
    gallery, _ = enrolled("memory")
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=1)
    data = bytearray(snap.path.read_bytes())
    data[len(data) // 2] ^= 1
    snap.path.write_bytes(bytes(data))
    assert snapshot(tmp_path / "g", sealer).load_into(FACTORIES["memory"]()) is None


def test_a_base_does_not_pair_with_another_snapshots_log(
    sealer: TemplateSealer, tmp_path: Path
) -> None:
    # A crash between write_base's two renames: the new base with the old log.
    gallery, _ = enrolled("memory")
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=1)
    old_log = snap.log_path.read_bytes()
    snap.write_base(gallery, position=2)
    snap.log_path.write_bytes(old_log)
    again = snapshot(tmp_path / "g", sealer)
    assert again.load_into(FACTORIES["memory"]()) is None
    assert again.refusal is not None
    assert again.refusal.code == "template_tampered"


def test_another_key_or_model_finds_no_usable_snapshot(
    sealer: TemplateSealer, tmp_path: Path
) -> None:
    gallery, _ = enrolled("memory")
    snapshot(tmp_path / "g", sealer).write_base(gallery, position=1)
    other_key = snapshot(tmp_path / "g", TemplateSealer(b"\x01" * 32))
    assert other_key.load_into(FACTORIES["memory"]()) is None
    assert isinstance(other_key.refusal, InvalidInput)
    other_model = snapshot(tmp_path / "g", sealer, model="arcface-r100-v1")
    target = FACTORIES["memory"](model_version="arcface-r100-v1")
    assert other_model.load_into(target) is None
    assert isinstance(other_model.refusal, Conflict)
    assert other_model.refusal.code == "model_version_mismatch"
    missing = snapshot(tmp_path / "none", sealer)
    assert missing.load_into(FACTORIES["memory"]()) is None
    assert missing.refusal is not None
    assert missing.refusal.code == "snapshot_missing"


def test_no_raw_embedding_reaches_the_log(sealer: TemplateSealer, tmp_path: Path) -> None:
    gallery, _ = enrolled("memory", n=3)
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=1)
    rows = unit_vectors(4, seed=12)
    snap.append(adds(ids(4, "z"), rows), position=2)
    data = snap.log_path.read_bytes()
    assert not any(row.astype("<f4").tobytes()[:16] in data for row in rows)
    assert oct(os.stat(snap.log_path).st_mode & 0o777) == "0o600"


def test_bad_changes_and_positions_are_refused(sealer: TemplateSealer, tmp_path: Path) -> None:
    gallery, _ = enrolled("memory", n=3)
    snap = snapshot(tmp_path / "g", sealer)
    with pytest.raises(InvalidInput):
        snap.append([], position=1)  # no base yet
    snap.write_base(gallery, position=5)
    with pytest.raises(Conflict):
        snap.append([], position=4)
    with pytest.raises(InvalidInput):
        snap.append([GalleryChange("add", "q", "s", None)], position=6)
    with pytest.raises(InvalidInput):
        snap.append([GalleryChange("add", "q", "s", np.ones(DIM, dtype=np.float32))], position=6)
    with pytest.raises(InvalidInput):
        snap.append([], position=-1)


def test_compaction_is_due_past_a_share_of_the_base_and_resets(
    sealer: TemplateSealer, tmp_path: Path
) -> None:
    gallery, _ = enrolled("faiss-ivf", n=100)
    snap = snapshot(tmp_path / "g", sealer)
    snap.write_base(gallery, position=0)
    rows = unit_vectors(20, seed=5)
    for i in range(10):
        snap.append(adds([f"c-{i}"], rows[i : i + 1]), position=i + 1)
        gallery.add(f"c-{i}", rows[i], scope="site-9")
    assert not snap.should_compact()  # 10 changes: 10% of 100, not past it
    snap.append(adds(["c-10"], rows[10:11]), position=11)
    gallery.add("c-10", rows[10], scope="site-9")
    assert snap.should_compact()
    assert snapshot(tmp_path / "g", sealer).should_compact()  # another process sees it too

    snap.write_base(gallery, position=11)
    assert not snap.should_compact()
    assert snap.log_path.stat().st_size < 300
    fresh = FACTORIES["faiss-ivf"]()
    assert snapshot(tmp_path / "g", sealer).load_into(fresh) == 11
    assert len(fresh) == 111
    assert fresh.search(rows[10], 1)[0].template_id == "c-10"


def test_two_writers_chain_their_records(sealer: TemplateSealer, tmp_path: Path) -> None:
    gallery, _ = enrolled("memory", n=3)
    one, two = snapshot(tmp_path / "g", sealer), snapshot(tmp_path / "g", sealer)
    one.write_base(gallery, position=1)
    rows = unit_vectors(2, seed=8)
    one.append(adds(["a"], rows[:1]), position=2)
    two.append(adds(["b"], rows[1:]), position=3)  # reads where the log ends first
    one.append([GalleryChange("remove", "a")], position=4)
    fresh = FACTORIES["memory"]()
    assert snapshot(tmp_path / "g", sealer).load_into(fresh) == 4
    assert "b" in fresh
    assert "a" not in fresh
