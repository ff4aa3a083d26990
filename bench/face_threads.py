"""Face-engine throughput when many threads share one engine: a lock versus a pool of detectors.

Run: .venv/bin/python bench/face_threads.py [--seconds 20] [--detectors 1,2,4] [--threads 1,2,4,8]

FastAPI runs request handlers in a thread pool, so one `DlibFaceEngine` serves every kiosk of a
process. Its HOG detector is not safe to share; the engine keeps `detectors` of them and a thread
borrows one per call (a pool of one is a plain lock). Each unit of work here is what an
identification asks of the engine: track the face over a synthetic 29-frame RGB capture (detect +
68 landmarks per frame) and embed its first and last frames. Prints identifications per second
per (detectors, threads), the load average before and after, and the peak RSS of the process.
The machine is shared: run it with nothing heavy beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as `facepay serve` pins them

from facepay.vision.dlib_engine import DlibFaceEngine  # noqa: E402
from facepay.vision.liveness.capture import Capture, TerminalCapabilities  # noqa: E402
from facepay.vision.liveness.challenge import issue_challenge  # noqa: E402
from facepay.vision.liveness.evaluation import load_subjects  # noqa: E402
from facepay.vision.liveness.synth.bona_fide import bona_fide_capture  # noqa: E402
from facepay.vision.liveness.tracks import track_faces  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"


def captures(engine: DlibFaceEngine, count: int) -> list[Capture]:
    """Synthetic live RGB captures of the sample subjects answering fresh challenges."""
    subjects = load_subjects(engine, IMAGES, (("obama.jpg", "obama"), ("biden.jpg", "biden")))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for i in range(count):
        rng = random.Random(i)  # reproducible synthetic frames
        challenge = issue_challenge(now=now, rng=rng)
        made.append(
            bona_fide_capture(
                subjects[i % len(subjects)],
                challenge=challenge,
                capabilities=TerminalCapabilities(),
                started_at=now,
                rng=rng,
            )
        )
    return made


def identification_work(engine: DlibFaceEngine, capture: Capture) -> None:
    """The engine's share of one identification: track every frame, embed two."""
    track = track_faces(engine, capture)
    for tracked in (track.frames[0], track.frames[-1]):
        if tracked.face is not None:
            engine.embed(capture.frames[tracked.index].rgb, tracked.face)


def run(engine: DlibFaceEngine, work: list[Capture], threads: int, seconds: float) -> float:
    """Identifications per second with `threads` threads looping over `work`."""
    stop = time.monotonic() + seconds
    done = [0] * threads

    def loop(slot: int) -> None:
        i = slot
        while time.monotonic() < stop:
            identification_work(engine, work[i % len(work)])
            done[slot] += 1
            i += threads

    started = time.monotonic()
    pool = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    """Print the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--detectors", default="1,2,4")
    parser.add_argument("--threads", default="1,2,4,8")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()}")
    work = captures(DlibFaceEngine(detectors=1), 6)
    print(f"capture: {len(work[0].frames)} frames of {work[0].frames[0].rgb.shape[1]}x"
          f"{work[0].frames[0].rgb.shape[0]}")  # fmt: skip
    print(f"{'detectors':>9} {'threads':>7} {'ident/s':>8}")
    for detectors in (int(d) for d in args.detectors.split(",")):
        engine = DlibFaceEngine(detectors=detectors)
        for threads in (int(t) for t in args.threads.split(",")):
            rate = run(engine, work, threads, args.seconds)
            print(f"{detectors:>9} {threads:>7} {rate:>8.2f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average after {os.getloadavg()}; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
