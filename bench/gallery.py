"""Gallery benchmark: build a gallery of face-like embeddings, then time 1:N searches.

    .venv/bin/python bench/gallery.py                                  # 20k and 200k, a minute
    nice -n 10 .venv/bin/python bench/gallery.py --size 10000000       # the region target
    .venv/bin/python bench/gallery.py --index hnsw --sizes 20000,100000

The embeddings come from bench/faces.py: identities clustered like dlib's 128-d embeddings
(impostor cosine about 0.3 to 0.6), probes are other photos of enrolled people (cosine about
0.95). Templates are enrolled 100k at a time and never held twice: the ground truth (exact
search, faiss IndexFlatIP) regenerates the same chunks afterwards.

`--index ivf` (default) is `FaissIvfGallery`, filled exactly and trained once when the last chunk
arrives (a bulk load, as when a gallery is rebuilt from the database); `--index hnsw` is
`FaissGallery` with HNSW from the first template.

Prints for each size: the build time, the memory (RSS of this process before and after the
build, the growth per template, and the peak ru_maxrss), and for each nprobe / efSearch value the
single-thread latency p50 / p95 / p99 of `search(probe, k=5)` (wall and the thread's CPU time)
and recall@1: the share of probes whose first candidate is exact search's first. The load
average is printed before and after: on a shared machine, wall-clock percentiles include waiting
for a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(os.cpu_count() or 1))

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from faces import CHUNK, DIM, FaceModel, exact_top1  # noqa: E402

from facepay.config import Settings  # noqa: E402
from facepay.gallery.faiss_gallery import FaissGallery  # noqa: E402
from facepay.gallery.faiss_ivf import FaissIvfGallery  # noqa: E402

MODEL = "dlib-resnet-v1"
K = 5


def rss_mib() -> float:
    """Resident set size of this process now, from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    """The process's peak resident set size (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def template_ids(start: int, stop: int) -> list[str]:
    return [f"tpl_{i:09d}" for i in range(start, stop)]


def build(model: FaceModel, n: int, gallery: FaissGallery | FaissIvfGallery) -> float:
    """Enrol n templates a chunk at a time; seconds taken (generating them not counted)."""
    took = 0.0
    for start, rows in model.blocks(n, CHUNK):
        t0 = time.perf_counter()
        gallery.add_many(template_ids(start, start + len(rows)), rows)
        took += time.perf_counter() - t0
    return took


def latencies(
    gallery: FaissGallery | FaissIvfGallery, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Wall and thread-CPU ms of each single-query search, and each top-1 id."""
    for q in queries[:20]:
        gallery.search(q, K)
    wall, cpu, top = np.empty(len(queries)), np.empty(len(queries)), []
    for i, q in enumerate(queries):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        hits = gallery.search(q, K)
        wall[i], cpu[i] = (time.perf_counter_ns() - t0) / 1e6, (time.thread_time_ns() - c0) / 1e6
        top.append(hits[0].template_id)
    return wall, cpu, top


def bench_size(n: int, args: argparse.Namespace) -> None:
    model = FaceModel(seed=n)
    queries, source = model.probes(n, args.queries, np.random.default_rng(n))
    print(f"\n{n:,} templates, {args.index}; {load()}")
    before = rss_mib()
    gallery: FaissGallery | FaissIvfGallery
    if args.index == "ivf":
        gallery = FaissIvfGallery(
            dim=DIM, model_version=MODEL, ivf_above=n - 1, nprobe=args.nprobe[0],
            rerank=args.rerank,
        )  # fmt: skip
    else:
        gallery = FaissGallery(dim=DIM, model_version=MODEL, hnsw_above=0)
    seconds = build(model, n, gallery)
    after = rss_mib()
    grown = after - before
    extra = f", {gallery.nlist} lists" if isinstance(gallery, FaissIvfGallery) else ""
    print(
        f"  build {seconds:,.1f} s{extra}; RSS {before:,.0f} -> {after:,.0f} MiB "
        f"(+{grown:,.0f} MiB, {grown * 2**20 / n:,.0f} B a template), peak {peak_mib():,.0f} MiB"
    )
    t0 = time.perf_counter()
    truth, _ = exact_top1(model, n, queries)
    truth_ids = [f"tpl_{i:09d}" for i in truth.tolist()]
    print(
        f"  exact ground truth in {time.perf_counter() - t0:.1f} s; the probe's own template is "
        f"exact search's first for {np.mean(truth == source):.2%} of probes"
    )
    settings = args.nprobe if args.index == "ivf" else args.ef_search
    columns = ("p50", "p95", "p99", "CPU p50", "CPU p99")
    print(f"  {'setting':>14} " + " ".join(f"{c:>7}" for c in columns) + "  recall@1")
    for value in settings:
        if isinstance(gallery, FaissIvfGallery):
            gallery.set_nprobe(value)
            name = f"nprobe={value}"
        else:
            gallery.set_ef_search(value)
            name = f"efSearch={value}"
        wall, cpu, top = latencies(gallery, queries)
        recall = np.mean([a == b for a, b in zip(top, truth_ids, strict=True)])
        p = [np.percentile(wall, q) for q in (50, 95, 99)]
        c = [np.percentile(cpu, q) for q in (50, 99)]
        print(
            f"  {name:>14} {p[0]:>7.3f} {p[1]:>7.3f} {p[2]:>7.3f} {c[0]:>7.3f} {c[1]:>7.3f}  "
            f"{recall:.4f}   ({load()})",
            flush=True,
        )
    print(f"  after the searches: RSS {rss_mib():,.0f} MiB, peak {peak_mib():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="comma-separated sizes")
    parser.add_argument("--size", type=int, help="one size (overrides --sizes)")
    parser.add_argument("--index", choices=("ivf", "hnsw"), default="ivf")
    parser.add_argument("--queries", type=int, default=1000)
    configured = Settings.model_fields  # the shipped defaults, not this shell's environment
    default_nprobe = configured["gallery_ivf_nprobe"].default
    parser.add_argument(
        "--nprobe", default=",".join(str(v) for v in sorted({8, default_nprobe, 32}))
    )
    parser.add_argument("--rerank", type=int, default=configured["gallery_ivf_rerank"].default)
    parser.add_argument(
        "--ef-search",
        default=",".join(
            str(v) for v in sorted({64, configured["gallery_hnsw_ef_search"].default})
        ),
    )
    args = parser.parse_args()
    args.nprobe = [int(v) for v in args.nprobe.split(",")]
    args.ef_search = [int(v) for v in args.ef_search.split(",")]
    sizes = [args.size] if args.size else [int(v) for v in args.sizes.split(",")]
    print(f"facepay gallery bench: dim {DIM}, k={K}, {args.queries} probes, {os.cpu_count()} cores")
    for n in sizes:
        bench_size(n, args)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
