"""Gallery benchmark: build and query FaissGallery at 10k, 100k and 1M synthetic face embeddings.

    nice -n 10 .venv/bin/python bench/gallery.py --sizes 10000,100000,1000000 --keep /tmp/gb

The vectors are 128-d unit vectors clustered like faces rather than uniform: every embedding
shares a common direction (dlib embeddings sit in a cone), people fall into dense groups, and each
person adds an individual part of low intrinsic dimension (cosine about 0.7 inside a group, 0.4
across; `--intrinsic-dim 128` makes the individual part isotropic, the hard worst case). Probes
are noisy copies of enrolled people (cosine about 0.93 to their own template, like a second
photo). HNSW parameters default to the shipped settings. With `--keep DIR` the sealed galleries
stay in DIR and a second run loads them instead of spending minutes on the 1M build.

For each size it prints: HNSW build time and memory (RSS growth of this process), single-query
p50/p99 latency of `gallery.search(probe, k=5)` and recall@1 against exact search for several
efSearch values, the exact (IndexFlatIP) latency for comparison, and the time to save / load the
sealed gallery file (which carries the sealed HNSW graph, so loading needs no rebuild).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from facepay.adapters.crypto import TemplateSealer
from facepay.config import Settings
from facepay.gallery.faiss_gallery import FaissGallery

DIM = 128
MODEL = "dlib-resnet-v1"
K = 5
CHUNK = 20_000
console = Console(width=150)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def make_people(
    n: int, rng: np.random.Generator, intrinsic_dim: float, groups: int = 256
) -> np.ndarray:
    """n face-like unit vectors: common direction + group centre + individual part.

    The individual part varies along a decaying spectrum (variance exp(-2i/d) in a random basis,
    participation ratio d): face embeddings have a low intrinsic dimension (about 12 for 128-d
    FaceNet, Gong, Boddeti & Jain, CVPR 2019), far from isotropic noise, and that is what graph
    indexes exploit. `intrinsic_dim=128` gives the isotropic worst case.
    """
    common = unit(rng.standard_normal(DIM))
    centres = unit(rng.standard_normal((groups, DIM)))
    weights = rng.dirichlet(np.full(groups, 2.0))  # groups of unequal size, like demographics
    spread = np.sqrt(np.exp(-2 * np.arange(DIM) / intrinsic_dim)) if intrinsic_dim < DIM else 1.0
    basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        group = rng.choice(groups, size=m, p=weights)
        own = unit((rng.standard_normal((m, DIM)) * spread).astype(np.float32) @ basis.T)
        out[start : start + m] = unit(
            np.sqrt(0.4) * common + np.sqrt(0.3) * centres[group] + np.sqrt(0.3) * own
        )
    return out


def probes(
    people: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of `count` random enrolled people (cosine about 0.93) and their rows."""
    source = rng.choice(len(people), size=count, replace=False)
    noise = rng.normal(0, 0.035, (count, DIM)).astype(np.float32)
    return unit(people[source] + noise), source


def exact_top1(people: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Ground truth by brute force, in blocks so that 1M x 1000 scores never sit in memory."""
    best = np.empty(len(queries), dtype=np.int64)
    for s in range(0, len(queries), 50):
        best[s : s + 50] = np.argmax(people @ queries[s : s + 50].T, axis=0)
    return best


def ids(start: int, stop: int) -> list[str]:
    return [f"t{i:07d}" for i in range(start, stop)]


def build(people: np.ndarray, gallery: FaissGallery, label: str) -> float:
    """Enrol every person in chunks behind a progress bar; return seconds."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(people))
        for s in range(0, len(people), CHUNK):
            gallery.add_many(ids(s, min(s + CHUNK, len(people))), people[s : s + CHUNK])
            progress.advance(task, min(CHUNK, len(people) - s))
    return time.perf_counter() - started


def latencies_ms(
    gallery: FaissGallery, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Wall and CPU time (calling thread) of every single-query search, and the top-1 ids.

    On a shared machine the wall time includes waiting for a core; the thread's CPU time is what
    one search costs when it has a core to itself.
    """
    for q in queries[:20]:
        gallery.search(q, K)
    wall, cpu, top = np.empty(len(queries)), np.empty(len(queries)), []
    for i, q in enumerate(queries):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        hits = gallery.search(q, K)
        wall[i], cpu[i] = (time.perf_counter_ns() - t0) / 1e6, (time.thread_time_ns() - c0) / 1e6
        top.append(hits[0].template_id)
    return wall, cpu, top


def bench_size(n: int, args: argparse.Namespace, table: Table) -> None:
    rng = np.random.default_rng(n)
    people = make_people(n, rng, args.intrinsic_dim)
    queries, source = probes(people, args.queries, rng)
    truth = exact_top1(people, queries)
    own = np.einsum("ij,ij->i", people[source], queries)
    console.print(
        f"{n:,}: probe-to-own-template cosine median {np.median(own):.3f}; exact top-1 is the "
        f"probe's own person for {np.mean(truth == source):.2%} of probes"
    )
    truth_ids = [f"t{i:07d}" for i in truth.tolist()]

    kept = args.keep / f"gallery-{n}.bin" if args.keep else None
    before = rss_bytes()
    gallery = FaissGallery(
        dim=DIM,
        model_version=MODEL,
        hnsw_above=0,  # HNSW at every size, so that its recall is measured at every size
        hnsw_m=args.m,
        ef_construction=args.ef_construction,
    )
    if kept is not None and kept.exists():
        t0 = time.perf_counter()
        gallery.load(kept, TemplateSealer.from_key_file(args.keep / "bench.key"))
        seconds, how = time.perf_counter() - t0, "loaded "
    else:
        seconds, how = build(people, gallery, f"HNSW build {n:,}"), ""
    grown = (rss_bytes() - before) / 2**20
    assert gallery.uses_hnsw

    for ef in args.ef_search:
        gallery.set_ef_search(ef)
        times, cpu, top = latencies_ms(gallery, queries)
        recall = np.mean([a == b for a, b in zip(top, truth_ids, strict=True)])
        table.add_row(
            f"{n:,}",
            f"{how}HNSW M={args.m} efC={args.ef_construction} efS={ef}",
            f"{seconds:.1f}",
            f"{grown:,.0f}",
            *timings(times, cpu),
            f"{recall:.4f}",
        )
        console.print(f"  efSearch={ef}: p99 {np.percentile(times, 99):.3f} ms, recall {recall}")

    if args.persist and not how:
        persist(gallery, n, table, kept)
    del gallery

    flat = FaissGallery(dim=DIM, model_version=MODEL, hnsw_above=n + 1)
    before = rss_bytes()
    seconds = build(people, flat, f"exact build {n:,}")
    grown = (rss_bytes() - before) / 2**20
    count = min(len(queries), args.exact_queries)
    times, cpu, top = latencies_ms(flat, queries[:count])
    exact_hits = np.mean([a == b for a, b in zip(top, truth_ids[:count], strict=True)])
    table.add_row(
        f"{n:,}",
        "exact IndexFlatIP",
        f"{seconds:.1f}",
        f"{grown:,.0f}",
        *timings(times, cpu),
        f"{exact_hits:.4f}",
    )


def timings(wall: np.ndarray, cpu: np.ndarray) -> list[str]:
    """p50 / p99 wall and p50 / p99 CPU, in ms."""
    return [f"{np.percentile(v, p):.3f}" for v in (wall, cpu) for p in (50, 99)]


def persist(gallery: FaissGallery, n: int, table: Table, kept: Path | None) -> None:
    """Save and load the sealed gallery file (graph included); keep it if asked to."""
    with tempfile.TemporaryDirectory(prefix="facepay-bench-") as folder:
        path = kept or Path(folder) / "gallery.bin"
        sealer = TemplateSealer.from_key_file(path.parent / "bench.key")
        t0 = time.perf_counter()
        gallery.save(path, sealer)
        saved = time.perf_counter() - t0
        size = path.stat().st_size / 2**20
        loaded = FaissGallery(dim=DIM, model_version=MODEL, hnsw_above=0)
        t0 = time.perf_counter()
        loaded.load(path, sealer)
        took = time.perf_counter() - t0
        assert loaded.uses_hnsw
        assert len(loaded) == n
    table.add_row(
        f"{n:,}",
        f"sealed file {size:,.0f} MiB: save {saved:.1f} s, load {took:.1f} s (no rebuild)",
        *[""] * 7,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--exact-queries", type=int, default=200)
    configured = Settings.model_fields  # the shipped defaults, not this shell's environment
    parser.add_argument("--m", type=int, default=configured["gallery_hnsw_m"].default)
    parser.add_argument(
        "--ef-construction", type=int, default=configured["gallery_hnsw_ef_construction"].default
    )
    parser.add_argument(
        "--ef-search",
        default=",".join(
            str(v) for v in sorted({32, 64, 256, 512, configured["gallery_hnsw_ef_search"].default})
        ),
        help="comma-separated efSearch values to measure",
    )
    parser.add_argument(
        "--intrinsic-dim",
        type=float,
        default=16,
        help="effective dimension of the individual part of each face (128: isotropic)",
    )
    parser.add_argument("--no-persist", dest="persist", action="store_false")
    parser.add_argument(
        "--keep",
        type=Path,
        help="folder (outside the repository) to keep the sealed galleries in; a later run with "
        "the same folder loads them instead of building again",
    )
    args = parser.parse_args()
    args.ef_search = [int(v) for v in args.ef_search.split(",")]

    table = Table(
        title=f"facepay gallery bench: dim {DIM}, intrinsic dim {args.intrinsic_dim:g}, "
        f"k={K}, {args.queries} probes"
    )
    columns = ("size", "index", "build s", "RSS +MiB", "p50 ms", "p99 ms")
    for column in (*columns, "p50 CPU ms", "p99 CPU ms", "recall@1"):
        table.add_column(column, justify="left" if column == "index" else "right")
    for n in (int(v) for v in args.sizes.split(",")):
        bench_size(n, args, table)
    console.print(table)
    console.print(
        "ms: one search(probe, k=5) call, wall clock and CPU time of the calling thread; "
        "recall@1: share of probes whose top-1 equals exact search's top-1 "
        "(for the exact row: agreement with the numpy brute force)."
    )


if __name__ == "__main__":
    main()
