"""The synthetic PAD evaluation (ISO/IEC 30107-3 vocabulary) over the real sample photos.

APCER (per attack type): share of attack presentations accepted as live. BPCER: share of bona
fide presentations not accepted as live (spoof or retry). Every presentation goes through the
same `LivenessPolicy` and one server-side `ChallengeBook`, on an RGB-only terminal (active
challenge) or an RGB+depth+IR terminal (passive) as listed in `PLAN`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness.capture import Capture, TerminalCapabilities
from facepay.vision.liveness.challenge import Challenge, ChallengeBook, issue_challenge
from facepay.vision.liveness.checks.base import AttackType, CheckResult
from facepay.vision.liveness.policy import Decision, LivenessDecision, LivenessPolicy
from facepay.vision.liveness.synth import attacks
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture, subjects_from_photo
from facepay.vision.liveness.tracks import nose_position

RGB = TerminalCapabilities()
FULL = TerminalCapabilities(depth=True, infrared=True)
PHOTOS = (
    ("obama.jpg", "obama"),
    ("obama2.jpg", "obama"),
    ("obama3.jpg", "obama"),
    ("biden.jpg", "biden"),
    ("t1.jpg", "t1"),
    ("Tom_Hanks_54745.png", "hanks"),
)
EXPECTED_GUESS = {
    "print_still": AttackType.PRINT,
    "print_moved": AttackType.PRINT,
    "screen_replay": AttackType.SCREEN_REPLAY,
    "challenge_replay": AttackType.CHALLENGE_REPLAY,
    "face_swap": AttackType.FACE_SWAP,
    "fake_depth": AttackType.PRINT,
    "rigid_mask": AttackType.RIGID_MASK,
}
"""What the policy should guess for each suite attack (reported, not required for APCER)."""
PRESENTATIONS_PER_SUBJECT = 17
FRONTAL_NOSE_SHIFT = 0.2


def load_subjects(
    engine: FaceEngine, images_dir: Path, photos: tuple[tuple[str, str], ...] = PHOTOS
) -> list[Subject]:
    """Every usable face of the sample photos (t1.jpg gives six people)."""
    subjects: list[Subject] = []
    for filename, person in photos:
        image = load_image(images_dir / filename)
        subjects.extend(subjects_from_photo(engine, image, filename.rsplit(".", 1)[0], person))
    return subjects


def faces_camera(subject: Subject) -> bool:
    """Whether the photo shows the face within ~20° of frontal (nose near the outline's middle).

    A kiosk starts a liveness check only once the patient faces the camera (quality gate).
    Photos taken at 25-50° cannot stand for that start: synthetic turns push them past what
    the detector finds, and dlib's landmarks on them are unreliable. The suite runs on the
    frontal faces by default; `--all-faces` adds the others as a stress test.
    """
    return abs(nose_position(subject.landmarks)[0]) <= FRONTAL_NOSE_SHIFT


@dataclass(frozen=True, slots=True)
class Outcome:
    """One presentation: its kind, terminal, decision and guessed attack."""

    kind: str
    subject: str
    terminal: str
    decision: Decision
    attack: AttackType | None
    reason: str
    checks: tuple[CheckResult, ...] = ()


@dataclass(slots=True)
class SuiteReport:
    """All outcomes, with APCER per attack type and BPCER."""

    outcomes: list[Outcome] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """`attacks` per type {attempts, apcer}, `bpcer`, `bona_fide_attempts`."""
        table: dict[str, dict[str, float | int]] = {}
        for kind in EXPECTED_GUESS:
            tried = [o for o in self.outcomes if o.kind == kind]
            accepted = sum(o.decision is Decision.LIVE for o in tried)
            table[kind] = {
                "attempts": len(tried),
                "apcer": round(accepted / len(tried), 4) if tried else 0.0,
            }
        bona = [o for o in self.outcomes if o.kind == "bona_fide"]
        refused = sum(o.decision is not Decision.LIVE for o in bona)
        return {
            "attacks": table,
            "bpcer": round(refused / len(bona), 4) if bona else 0.0,
            "bona_fide_attempts": len(bona),
        }

    def guesses(self) -> dict[str, Counter[str]]:
        """For each attack type, how often each decision / guessed type came out."""
        out: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            label = o.attack.value if o.attack else o.decision.value
            out.setdefault(o.kind, Counter())[label] += 1
        return out


class _Server:
    """The server side of the suite: one challenge book, a clock that moves a minute per attempt."""

    def __init__(self, engine: FaceEngine, rng: random.Random) -> None:
        self.policy = LivenessPolicy(engine=engine)
        self.book = ChallengeBook()
        self.rng = rng
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def challenge(self) -> Challenge:
        self.now += timedelta(minutes=1)
        return self.book.add(issue_challenge(now=self.now, rng=self.rng))

    def start(self) -> datetime:
        return self.now + timedelta(seconds=0.5)

    def judge(self, capture: Capture) -> LivenessDecision:
        at = capture.ended_at + timedelta(seconds=0.3)
        return self.policy.evaluate(capture=capture, book=self.book, now=max(at, self.now))


def presentations(
    engine: FaceEngine,
    subjects: list[Subject],
    *,
    partners: list[Subject] | None = None,
    seed: int = 7,
    bona_fide_per_subject: int = 2,
) -> Iterator[Outcome]:
    """Run the suite one presentation at a time (so a caller can show progress).

    Face swaps pair each subject with the next subject (from `partners`, default `subjects`) who
    is a different person.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    server = _Server(engine, rng)
    pool = partners or subjects
    for i, subject in enumerate(subjects):
        others = [s for s in pool[i + 1 :] + pool[: i + 1] if s.person != subject.person]
        if not others:
            msg = "the suite needs faces of at least two different people"
            raise ValueError(msg)
        partner = others[0]
        yield from _subject_presentations(server, subject, partner, rng, bona_fide_per_subject)


def _subject_presentations(
    server: _Server, subject: Subject, partner: Subject, rng: random.Random, bona_fide: int
) -> Iterator[Outcome]:
    def judge(kind: str, terminal: TerminalCapabilities, capture: Capture) -> Outcome:
        d = server.judge(capture)
        return Outcome(kind, subject.name, terminal.label, d.decision, d.attack, d.reason, d.checks)

    recording: Capture | None = None
    for _ in range(bona_fide):
        challenge = server.challenge()
        full = bona_fide_capture(
            subject, challenge=challenge, capabilities=FULL, started_at=server.start(), rng=rng
        )
        recording = recording or full
        rgb_only = Capture(
            tuple(attacks.strip(f, RGB) for f in full.frames),
            RGB,
            full.started_at,
            full.challenge_nonce,
        )
        yield judge("bona_fide", RGB, rgb_only)
    assert recording is not None
    now = server.start
    yield judge(
        "bona_fide",
        FULL,
        bona_fide_capture(subject, challenge=None, capabilities=FULL, started_at=now(), rng=rng),
    )

    for terminal in (RGB, FULL):
        ch = server.challenge() if terminal is RGB else None
        yield judge(
            "print_still",
            terminal,
            attacks.printed_photo(
                subject, challenge=ch, capabilities=terminal, started_at=now(), rng=rng, moved=False
            ),
        )
    for terminal, sag in ((RGB, 0.0), (FULL, 12.0)):
        ch = server.challenge() if terminal is RGB else None
        yield judge(
            "print_moved",
            terminal,
            attacks.printed_photo(
                subject,
                challenge=ch,
                capabilities=terminal,
                started_at=now(),
                rng=rng,
                moved=True,
                sag_mm=sag,
            ),
        )
    for terminal in (RGB, FULL):
        ch = server.challenge() if terminal is RGB else None
        yield judge(
            "screen_replay",
            terminal,
            attacks.screen_replay(
                recording, challenge=ch, capabilities=terminal, started_at=now(), rng=rng
            ),
        )
    # Replay of an earlier capture: as sent (its nonce is spent), then re-labelled for a new one.
    server.challenge()
    old = Capture(
        tuple(attacks.strip(f, RGB) for f in recording.frames),
        RGB,
        recording.started_at,
        recording.challenge_nonce,
    )
    yield judge("challenge_replay", RGB, old)
    fresh = server.challenge()
    yield judge("challenge_replay", RGB, Capture(old.frames, RGB, now(), fresh.nonce))
    for terminal in (RGB, FULL):
        ch = server.challenge() if terminal is RGB else None
        a = bona_fide_capture(
            subject, challenge=ch, capabilities=terminal, started_at=now(), rng=rng
        )
        b = bona_fide_capture(
            partner, challenge=ch, capabilities=terminal, started_at=now(), rng=rng
        )
        yield judge("face_swap", terminal, attacks.face_swap(a, b))
    for sag in (0.0, 10.0):
        live = bona_fide_capture(
            subject, challenge=None, capabilities=FULL, started_at=now(), rng=rng
        )
        yield judge("fake_depth", FULL, attacks.fake_depth(live, sag_mm=sag, rng=rng))
    for terminal in (RGB, FULL):
        ch = server.challenge() if terminal is RGB else None
        yield judge(
            "rigid_mask",
            terminal,
            attacks.rigid_mask(
                subject, challenge=ch, capabilities=terminal, started_at=now(), rng=rng
            ),
        )


def run_suite(
    engine: FaceEngine,
    subjects: list[Subject],
    *,
    partners: list[Subject] | None = None,
    seed: int = 7,
    bona_fide_per_subject: int = 2,
    progress: Callable[[Outcome], None] | None = None,
) -> SuiteReport:
    """Run every presentation and collect the report."""
    report = SuiteReport()
    runs = presentations(
        engine, subjects, partners=partners, seed=seed, bona_fide_per_subject=bona_fide_per_subject
    )
    for outcome in runs:
        report.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return report
