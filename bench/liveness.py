"""Liveness decision latency per capture, from synthetic captures of the real sample photos.

Run: .venv/bin/python bench/liveness.py [--repeat N]

Prints, for an RGB-only capture answering a challenge and an RGB+depth+IR passive capture:
frames, seconds per decision (median of N), and the share spent tracking faces vs embedding.
The machine is shared: run it once, with nothing heavy beside it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facepay.bootstrap import build_face_engine, load_settings
from facepay.vision.liveness.capture import TerminalCapabilities
from facepay.vision.liveness.challenge import ChallengeBook, issue_challenge
from facepay.vision.liveness.evaluation import load_subjects
from facepay.vision.liveness.policy import LivenessPolicy
from facepay.vision.liveness.synth.bona_fide import bona_fide_capture
from facepay.vision.liveness.tracks import track_faces

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine = build_face_engine(load_settings())
    subject = load_subjects(engine, IMAGES, (("obama.jpg", "obama"),))[0]
    policy = LivenessPolicy(engine=engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for label, caps in (
        ("rgb (challenge)", TerminalCapabilities()),
        ("rgb+depth+ir (passive)", TerminalCapabilities(depth=True, infrared=True)),
    ):
        decide, track = [], []
        for i in range(args.repeat):
            book = ChallengeBook()
            challenge = None
            if not caps.passive_capable:
                challenge = book.add(issue_challenge(now=now, rng=random.Random(i)))
            capture = bona_fide_capture(
                subject, challenge=challenge, capabilities=caps,
                started_at=now + timedelta(seconds=1), rng=random.Random(i),
            )  # fmt: skip
            t0 = time.perf_counter()
            decision = policy.evaluate(capture=capture, book=book, now=capture.ended_at)
            decide.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            track_faces(engine, capture)
            track.append(time.perf_counter() - t0)
        print(
            f"{label:24s} frames={len(capture.frames):3d} decision={decision.decision.value:5s} "
            f"median {statistics.median(decide):.2f} s/capture "
            f"(tracking {statistics.median(track):.2f} s, "
            f"{1000 * statistics.median(track) / len(capture.frames):.0f} ms/frame)"
        )


if __name__ == "__main__":
    main()
