"""The terminal agent's edge vision on the real models: a live answer to the challenge passes
with its evidence and a probe that matches the patient 1:N in an offline library; a still photo
and a replayed capture are refused locally, with the sentence the patient is shown."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from facepay.terminal.agent.vision import LocalVision
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.challenge import ChallengeBook, issue_challenge
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture

pytestmark = pytest.mark.slow
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RGB = TerminalCapabilities()


def answer(subject: Subject, book: ChallengeBook, seed: int) -> Capture:
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(seed)))
    return bona_fide_capture(
        subject, challenge=challenge, capabilities=RGB,
        started_at=NOW + timedelta(seconds=1), rng=random.Random(seed),
    )  # fmt: skip


def test_a_live_answer_passes_with_its_evidence_and_a_matching_probe(
    liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]
) -> None:
    vision = LocalVision(liveness_engine)
    book = ChallengeBook()
    capture = answer(subjects["obama"], book, 31)
    after = capture.ended_at + timedelta(seconds=1)
    probe = vision.examine(capture, book=book, now=after, embed=True)
    assert probe.liveness.passed, probe.liveness.message
    assert probe.embedding is not None
    assert abs(float(np.linalg.norm(probe.embedding)) - 1.0) < 1e-5
    assert set(probe.liveness.steps) <= {"blink", "open_mouth", "turn_left", "turn_right", "nod"}
    assert probe.liveness.steps
    assert all(isinstance(v, int) for v in probe.liveness.checks.values())
    assert "active" in probe.liveness.checks
    assert probe.liveness.frames == len(capture.frames)
    # A second capture of the same person scores high against this probe; another person low.
    again = vision.examine(answer(subjects["obama"], book, 32), book=book, now=after, embed=True)
    other = vision.examine(answer(subjects["biden"], book, 33), book=book, now=after, embed=True)
    assert again.embedding is not None
    assert other.embedding is not None
    assert float(probe.embedding @ again.embedding) > 0.93
    assert float(probe.embedding @ other.embedding) < 0.9
    # The same capture again: its challenge is spent locally.
    replay = vision.examine(capture, book=book, now=after, embed=True)
    assert not replay.liveness.passed
    assert replay.embedding is None


def test_a_still_photo_is_refused_locally_with_the_sentence(
    liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]
) -> None:
    vision = LocalVision(liveness_engine)
    book = ChallengeBook()
    nonce = book.add(issue_challenge(now=NOW, rng=random.Random(34))).nonce
    photo = subjects["obama"].image
    still = Capture(
        tuple(Frame(i * 0.25, photo) for i in range(16)), RGB, NOW + timedelta(seconds=1), nonce
    )
    probe = vision.examine(still, book=book, now=NOW + timedelta(seconds=8), embed=True)
    assert not probe.liveness.passed
    assert probe.liveness.message.endswith(".")
    assert probe.embedding is None
