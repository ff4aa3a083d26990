"""Worker restart from a sealed snapshot: how long until a fresh gallery answers searches.

    nice -n 10 .venv/bin/python bench/gallery_restart.py --size 1000000
    .venv/bin/python bench/gallery_restart.py                     # 100k, under a minute

Builds a gallery of `--size` face-like templates (bench/faces.py; `--index ivf`, the default,
is `FaissIvfGallery`, `--index hnsw` `FaissGallery` with HNSW), writes it as the sealed base of a
`GallerySnapshot` at journal position 0, appends `--deltas` changes (90% enrolments, 10%
removals) in records of `--batch` changes each, as a journal follower would, and then, as a
restarted worker, times `load_into` on a fresh, empty gallery: reading and verifying the base
(the saved index included, so nothing is trained or rebuilt) and replaying the log. Prints the
time of each step, the file sizes, the per-record append time, and checks the loaded gallery
answers like the original.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from faces import DIM, GENUINE_SIGMA, FaceModel, unit

from facepay.adapters.crypto import TemplateSealer
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.faiss_ivf import FaissIvfGallery
from facepay.gallery.ports import Gallery
from facepay.gallery.snapshot import GalleryChange, GallerySnapshot

MODEL = "dlib-resnet-v1"


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def new_gallery(index: str, n: int) -> Gallery:
    if index == "ivf":
        return FaissIvfGallery(dim=DIM, model_version=MODEL, ivf_above=min(100_000, n - 1))
    return FaissGallery(dim=DIM, model_version=MODEL, hnsw_above=min(20_000, n - 1))


def main() -> None:
    """Build, snapshot, append, then time the restart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--deltas", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--index", choices=("ivf", "hnsw"), default="ivf")
    parser.add_argument("--folder", type=Path, help="where to write the snapshot (default: tmp)")
    args = parser.parse_args()
    print(f"{load()}, {os.cpu_count()} cores; {args.size:,} templates, {args.index}")
    model, rng = FaceModel(seed=11), np.random.default_rng(11)
    gallery = new_gallery(args.index, args.size)
    t0 = time.perf_counter()
    for start, rows in model.blocks(args.size):
        names = [f"tpl_{i:09d}" for i in range(start, start + len(rows))]
        gallery.add_many(
            names, rows, scopes=[f"site:{i % 100:03d}" for i in range(start, start + len(rows))]
        )
    print(f"  built in {time.perf_counter() - t0:.1f} s ({load()})")

    with tempfile.TemporaryDirectory(prefix="facepay-restart-", dir=args.folder) as folder:
        sealer = TemplateSealer.from_key_file(Path(folder) / "bench.key")
        snapshot = GallerySnapshot(
            Path(folder) / "gallery.sealed", sealer, model_version=MODEL, dim=DIM
        )
        t0 = time.perf_counter()
        snapshot.write_base(gallery, position=0)
        base_s = time.perf_counter() - t0
        print(f"  write_base {base_s:.1f} s, {snapshot.path.stat().st_size / 2**20:,.0f} MiB")

        extra = unit(
            model.rows(args.size, args.size + args.deltas)
            + rng.normal(0, GENUINE_SIGMA, (args.deltas, DIM)).astype(np.float32)
        )
        position, appended, times = 0, 0, []
        removed = rng.choice(args.size, size=args.deltas // 10, replace=False).tolist()
        while appended < args.deltas:
            changes = []
            for i in range(appended, min(appended + args.batch, args.deltas)):
                if i % 10 == 9:
                    name = f"tpl_{removed.pop():09d}"
                    changes.append(GalleryChange("remove", name))
                    gallery.remove(name)
                else:
                    changes.append(GalleryChange("add", f"new_{i:07d}", "site:007", extra[i]))
                    gallery.add(f"new_{i:07d}", extra[i], scope="site:007")
            position += len(changes)
            t0 = time.perf_counter()
            snapshot.append(changes, position=position)
            times.append(time.perf_counter() - t0)
            appended += len(changes)
        print(
            f"  appended {args.deltas:,} changes in {len(times):,} records: per record p50 "
            f"{np.median(times) * 1e3:.2f} ms, p99 {np.percentile(times, 99) * 1e3:.2f} ms "
            f"(fsync included); log {snapshot.log_path.stat().st_size / 2**20:,.1f} MiB; "
            f"should_compact: {snapshot.should_compact()}"
        )
        probes = unit(extra[:200] + rng.normal(0, 0.02, (200, DIM)).astype(np.float32))
        expected = [gallery.search(p, 5, scopes={"site:007"}) for p in probes]
        unscoped = [gallery.search(p, 1)[0].template_id for p in probes]
        del gallery

        print(f"  restart ({load()}), RSS before {rss_mib():,.0f} MiB")
        t0 = time.perf_counter()
        fresh = new_gallery(args.index, args.size)
        restored = GallerySnapshot(
            Path(folder) / "gallery.sealed", sealer, model_version=MODEL, dim=DIM
        )
        at = restored.load_into(fresh)
        ready = time.perf_counter() - t0
        first = fresh.search(probes[0], 5)
        print(
            f"  READY in {ready:.1f} s: load_into -> position {at:,} (expected {position:,}), "
            f"{len(fresh):,} templates, first search {first[0].score:.3f}; RSS {rss_mib():,.0f} MiB"
        )
        same = sum(
            fresh.search(p, 5, scopes={"site:007"}) == e
            for p, e in zip(probes, expected, strict=True)
        )
        top = sum(
            fresh.search(p, 1)[0].template_id == u for p, u in zip(probes, unscoped, strict=True)
        )
        print(f"  answers as before the restart: scoped {same}/200, unscoped top-1 {top}/200")
    print(load())


if __name__ == "__main__":
    main()
