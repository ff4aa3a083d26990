"""Cost of scoped 1:N search: the best candidates inside the hospitals allowed to match.

Run: .venv/bin/python bench/gallery_scopes.py [--size 100000] [--queries 300]

A FAISS gallery (HNSW above 20k templates, as configured by default) holds `--size` face-like
unit vectors (bench/gallery.py's model: a common direction, dense groups, an individual part of
low intrinsic dimension; probes at cosine ~0.93 to their own template) spread over hospitals of
very different sizes (a few large, many small), plus one face enrolled at 25 hospitals.

Prints, for unscoped search and for scopes of a small, a middling and a large hospital (the large
one both ways: exact over the scope's vectors, and the filtered HNSW walk), the latency p50 / p99
over `--queries` probes and recall@1 / @10 against exact search inside the scope; then how often
the face enrolled at 25 hospitals was found first at each of them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from gallery import make_people  # noqa: E402 - bench/gallery.py, beside this script

from facepay.gallery.faiss_gallery import EXACT_SCOPE_LIMIT, FaissGallery  # noqa: E402

DIM = 128


def hospital_sizes(total: int) -> list[int]:
    """Hospital sizes ~ 1/rank (a few tertiary hospitals hold most of the patients)."""
    weights = 1.0 / np.arange(1, 201)
    sizes = np.floor(weights / weights.sum() * total).astype(int)
    sizes[0] += total - int(sizes.sum())
    return sizes.tolist()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of `values`."""
    return float(np.percentile(values, q))


def main() -> None:
    """Build, then time scoped searches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"load average before {os.getloadavg()}, cores {os.cpu_count()}")
    rows = make_people(args.size + 1, rng, intrinsic_dim=16)
    face, rows = rows[-1], rows[:-1]
    sizes = hospital_sizes(args.size)
    scopes = [f"h{i:03d}" for i, n in enumerate(sizes) for _ in range(n)]
    gallery = FaissGallery(dim=DIM, model_version="bench")
    started = time.perf_counter()
    gallery.add_many([f"t{i}" for i in range(args.size)], rows, scopes=scopes)
    copies = [f"h{i:03d}" for i in range(0, 200, 8)][:25]
    for scope in copies:
        near = face + 0.03 * rng.standard_normal(DIM).astype(np.float32)
        gallery.add(f"face@{scope}", near / np.linalg.norm(near), scope=scope)
    print(
        f"built {len(gallery)} templates in {time.perf_counter() - started:.0f} s, "
        f"HNSW={gallery.uses_hnsw}, exact path up to {EXACT_SCOPE_LIMIT} templates per search"
    )
    by_scope: dict[str, np.ndarray] = {}
    labels = np.array(scopes)
    cases = [
        ("unscoped", None, EXACT_SCOPE_LIMIT),
        (f"large hospital ({sizes[0]}), exact", "h000", args.size),
        (f"large hospital ({sizes[0]}), walk", "h000", 0),
        (f"middling hospital ({sizes[20]})", "h020", EXACT_SCOPE_LIMIT),
        (f"small hospital ({sizes[199]})", "h199", EXACT_SCOPE_LIMIT),
    ]
    print(f"{'search':<36} {'p50 ms':>8} {'p99 ms':>8} {'recall@1':>9} {'recall@10':>10}")
    for name, scope, limit in cases:
        gallery.set_exact_scope_limit(limit)
        if scope is None:
            member_rows, member_ids = rows, np.arange(args.size)
        else:
            member_ids = np.flatnonzero(labels == scope)
            member_rows = rows[member_ids]
            by_scope[scope] = member_ids
        times: list[float] = []
        hit1 = hit10 = 0
        for q in range(args.queries):
            target = int(member_ids[q % member_ids.size])
            probe = rows[target] + 0.035 * rng.standard_normal(DIM).astype(np.float32)
            probe /= np.linalg.norm(probe)
            exact = np.argsort(-(member_rows @ probe))[:10]
            truth = [f"t{int(member_ids[i])}" for i in exact]
            started = time.perf_counter()
            hits = gallery.search(probe, 10, scopes=None if scope is None else {scope})
            times.append((time.perf_counter() - started) * 1000)
            got = [h.template_id for h in hits if not h.template_id.startswith("face@")]
            hit1 += bool(got) and got[0] == truth[0]
            hit10 += len(set(got) & set(truth))
        print(
            f"{name:<36} {statistics.median(times):>8.2f} {percentile(times, 99):>8.2f} "
            f"{hit1 / args.queries:>9.3f} {hit10 / (10 * args.queries):>10.3f}",
            flush=True,
        )
    gallery.set_exact_scope_limit(EXACT_SCOPE_LIMIT)
    found = 0
    for scope in copies:
        probe = face + 0.03 * rng.standard_normal(DIM).astype(np.float32)
        hits = gallery.search(probe / np.linalg.norm(probe), 10, scopes={scope})
        found += hits[0].template_id == f"face@{scope}"
    print(f"face enrolled at {len(copies)} hospitals: first hit at its own {found}/{len(copies)}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
