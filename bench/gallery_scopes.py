"""Scoped 1:N search in a region: the best candidates inside the scopes a terminal may match.

    nice -n 10 .venv/bin/python bench/gallery_scopes.py --size 1000000
    .venv/bin/python bench/gallery_scopes.py                  # 100k, under a minute

Two layouts of `--size` face-like templates (bench/faces.py), each in a `FaissIvfGallery` (or
`--index hnsw`: `FaissGallery`) built in bulk:

1. sites: the templates spread over 100 sites of very different sizes (~1/rank, a few large
   hospitals, many small ones). Searches of one site's scope: the largest (above the exact
   limit: the IVF restricted to the site's bitmap), a middling and the smallest (exact).
2. region: 95% of the templates in one regional scope `region:R`, 5% over 100 small sites. A
   regional terminal searches `{"region:R", "site:S"}` (most of the gallery plus one site); a
   site terminal `{"site:S"}`.

Each search is measured with genuine probes (another photo of a template inside the scopes) and
with probes of people enrolled outside them (their best match inside the scopes is an impostor,
the hard case for an approximate index); sites are searched both ways, exactly and through the
IVF with the site's bitmap. Prints the wall-clock p50 / p95 / p99 and the thread's CPU p99 of
`search(probe, k=10, scopes=...)`, and recall@1 against exact search over the scopes' members
only, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from faces import DIM, GENUINE_SIGMA, FaceModel, unit

from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.faiss_ivf import EXACT_SCOPE_LIMIT, FaissIvfGallery

K = 10


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def site_sizes(total: int, sites: int = 100) -> np.ndarray:
    """Site sizes ~ 1/rank, summing to `total`."""
    weights = 1.0 / np.arange(1, sites + 1)
    sizes = np.floor(weights / weights.sum() * total).astype(int)
    sizes[0] += total - int(sizes.sum())
    return sizes


def build(rows: np.ndarray, tags: np.ndarray, index: str) -> FaissIvfGallery | FaissGallery:
    gallery: FaissIvfGallery | FaissGallery
    n = len(rows)
    if index == "ivf":
        gallery = FaissIvfGallery(dim=DIM, model_version="bench", ivf_above=n - 1)
    else:
        gallery = FaissGallery(dim=DIM, model_version="bench")
    started = time.perf_counter()
    for s in range(0, n, 100_000):
        names = [f"t{i}" for i in range(s, min(s + 100_000, n))]
        gallery.add_many(names, rows[s : s + 100_000], scopes=tags[s : s + 100_000].tolist())
    print(f"  built {n:,} in {time.perf_counter() - started:.0f} s ({load()})")
    return gallery


def measure(
    gallery: FaissIvfGallery | FaissGallery,
    rows: np.ndarray,
    tags: np.ndarray,
    name: str,
    scopes: set[str],
    queries: int,
    rng: np.random.Generator,
    *,
    outside: bool = False,
) -> None:
    """Time `queries` scoped searches; recall@1 against exact search over the scopes."""
    inside = np.isin(tags, list(scopes))
    members = np.flatnonzero(inside)
    pool = np.flatnonzero(~inside) if outside else members
    source = rng.choice(pool, size=queries, replace=pool.size < queries)
    probes = unit(rows[source] + rng.normal(0, GENUINE_SIGMA, (queries, DIM)).astype(np.float32))
    inside_rows = rows[members]
    truth = np.concatenate(
        [
            members[np.argmax(inside_rows @ probes[s : s + 50].T, axis=0)]
            for s in range(0, queries, 50)
        ]
    )  # exact search over the scopes' members, 50 probes at a time
    times, cpu, hits = [], [], 0
    for probe, best in zip(probes, truth.tolist(), strict=True):
        t0, c0 = time.perf_counter(), time.thread_time()
        found = gallery.search(probe, K, scopes=scopes)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        hits += found[0].template_id == f"t{best}"
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    who = "probes of people outside" if outside else "genuine probes"
    print(
        f"  {name:<44} {members.size:>9,} {p50:>7.2f} {p95:>7.2f} {p99:>7.2f} "
        f"{np.percentile(cpu, 99):>7.2f} {hits / queries:>9.4f}  {who}",
        flush=True,
    )


def header() -> None:
    columns = ("p50 ms", "p95", "p99", "CPU p99", "recall@1")
    print(f"  {'search':<44} {'members':>9} " + " ".join(f"{c:>7}" for c in columns))


def main() -> None:
    """Build both layouts, then time scoped searches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--index", choices=("ivf", "hnsw"), default="ivf")
    parser.add_argument("--exact-limit", type=int, help="the gallery's exact scope limit")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"{load()}, {os.cpu_count()} cores; exact search up to {EXACT_SCOPE_LIMIT:,} members")
    rows = FaceModel(seed=7).rows(0, args.size)

    print(f"\n1. {args.size:,} templates over 100 sites (~1/rank)")
    sizes = site_sizes(args.size)
    tags = np.repeat([f"site:{i:03d}" for i in range(100)], sizes)
    tags = tags[rng.permutation(args.size)]
    gallery = build(rows, tags, args.index)
    header()
    limit = EXACT_SCOPE_LIMIT if args.exact_limit is None else args.exact_limit
    for i in (0, 10, 18, 99):
        scope = {f"site:{i:03d}"}
        for how, cut in (("", limit), (", IVF + bitmap", 0)):
            if cut == 0 and np.count_nonzero(tags == f"site:{i:03d}") > limit:
                continue  # searched through the IVF already
            gallery.set_exact_scope_limit(cut)
            for outside in (False, True):
                name = f"one site, site:{i:03d}{how}"
                measure(gallery, rows, tags, name, scope, args.queries, rng, outside=outside)
    gallery.set_exact_scope_limit(limit)
    del gallery

    print(f"\n2. {args.size:,} templates: 95% in region:R, 5% over 100 sites")
    tags = np.where(
        rng.random(args.size) < 0.95,
        "region:R",
        np.char.add("site:", rng.integers(0, 100, args.size).astype(str)),
    )
    gallery = build(rows, tags, args.index)
    if args.exact_limit is not None:
        gallery.set_exact_scope_limit(args.exact_limit)
    header()
    union = {"region:R", "site:7"}
    measure(gallery, rows, tags, "region + one site {region:R, site:7}", union, args.queries, rng)
    measure(
        gallery, rows, tags, "region + one site {region:R, site:7}", union, args.queries, rng,
        outside=True,
    )  # fmt: skip
    measure(gallery, rows, tags, "the site alone {site:7}", {"site:7"}, args.queries, rng)
    measure(gallery, rows, tags, "unscoped", {"region:R", *np.unique(tags).tolist()}, 300, rng)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
