"""Active challenges: a random sequence of actions with time windows, answered once.

The server draws 2–3 actions: always one that deforms the face (blink or open the mouth — a
photo or a rigid mask cannot) and one head movement (turn or nod — it gives the 3D parallax that
the rigid-plane check needs), in random order, each inside a time window whose start is jittered,
so that a video recorded for an earlier challenge does not line up with a new one. The nonce binds
a capture to its challenge, and a `ChallengeBook` redeems each nonce only once.
"""

from __future__ import annotations

import enum
import random
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from facepay.shared.errors import InvalidInput, Unavailable


class Action(enum.StrEnum):
    """What the patient is asked to do. Left and right are the patient's own."""

    BLINK = "blink"
    OPEN_MOUTH = "open_mouth"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    NOD = "nod"


DEFORMING = (Action.BLINK, Action.OPEN_MOUTH)
HEAD_MOVES = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.NOD)

PROMPTS = {
    Action.BLINK: "Please blink.",
    Action.OPEN_MOUTH: "Please open your mouth.",
    Action.TURN_LEFT: "Please turn your head to your left.",
    Action.TURN_RIGHT: "Please turn your head to your right.",
    Action.NOD: "Please nod your head.",
}


@dataclass(frozen=True, slots=True)
class ActionWindow:
    """One action and the seconds (since the capture started) within which it must happen."""

    action: Action
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Challenge:
    """An issued challenge: actions in order, each in its window; valid until `expires_at`."""

    nonce: str
    steps: tuple[ActionWindow, ...]
    issued_at: datetime
    expires_at: datetime

    @property
    def actions(self) -> tuple[Action, ...]:
        """The actions in the order asked."""
        return tuple(step.action for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what the terminal receives and `--challenge` reads)."""
        return {
            "nonce": self.nonce,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "steps": [
                {"action": s.action.value, "start": s.start, "end": s.end} for s in self.steps
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Challenge:
        """Parse `to_json` output; raises InvalidInput on anything malformed."""
        try:
            steps = tuple(
                ActionWindow(Action(s["action"]), float(s["start"]), float(s["end"]))
                for s in data["steps"]
            )
            challenge = cls(
                nonce=str(data["nonce"]),
                steps=steps,
                issued_at=datetime.fromisoformat(data["issued_at"]),
                expires_at=datetime.fromisoformat(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"malformed challenge: {exc}"
            raise InvalidInput(msg) from exc
        if not 1 <= len(steps) <= 5 or challenge.issued_at.tzinfo is None:
            raise InvalidInput("a challenge needs 1-5 steps and timezone-aware times")
        return challenge


def issue_challenge(
    *, now: datetime, rng: random.Random | None = None, ttl_seconds: float = 30.0
) -> Challenge:
    """Draw a fresh challenge: one deforming action, one head move, maybe one more; shuffled."""
    rnd = rng or random.SystemRandom()
    actions = [rnd.choice(DEFORMING), rnd.choice(HEAD_MOVES)]
    if rnd.random() < 0.5:
        actions.append(rnd.choice([a for a in Action if a not in actions]))
    rnd.shuffle(actions)
    steps: list[ActionWindow] = []
    start = 0.6 + rnd.uniform(0.0, 0.6)
    for action in actions:
        steps.append(ActionWindow(action, round(start, 3), round(start + 1.8, 3)))
        start += 1.8 + rnd.uniform(0.2, 0.8)
    nonce = secrets.token_urlsafe(16) if rng is None else f"{rnd.getrandbits(96):024x}"
    return Challenge(
        nonce=nonce,
        steps=tuple(steps),
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )


class ChallengeStatus(enum.StrEnum):
    """What redeeming a nonce found."""

    VALID = "valid"
    UNKNOWN = "unknown"
    REUSED = "reused"
    EXPIRED = "expired"


class ChallengeStore(Protocol):
    """Where issued challenges are kept until redeemed once: `ChallengeBook` in one process's
    memory, or the database for every worker process (facepay.adapters.db.shared_state)."""

    def add(self, challenge: Challenge) -> Challenge:
        """Record an issued challenge (`Unavailable` when no more can be kept now)."""
        ...

    def peek(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """What `redeem` would answer now, without consuming the nonce."""
        ...

    def redeem(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """Consume `nonce`: VALID once, REUSED afterwards, EXPIRED past its expiry."""
        ...

    def purge(self, *, now: datetime) -> int:
        """Forget what has expired; returns how many."""
        ...


MAX_ENTRIES = 100_000
"""Open challenges plus remembered nonces (~0.5 KB each, ~50 MB at most) before a full book
refuses new challenges: with 30 s challenges that is 3,000 challenges a second."""


class ChallengeBook:
    """The server's record of issued challenges (in memory, thread-safe); each nonce can be
    redeemed once. An open challenge is kept until it expires and a redeemed nonce until its
    challenge would have expired - after that a replay is unknown, which is refused just the
    same - so `purge` (the server's upkeep runs it) keeps the book bounded."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._open: dict[str, Challenge] = {}
        self._used: dict[str, datetime] = {}  # nonce -> its challenge's expiry
        self._max = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._open) + len(self._used)

    def add(self, challenge: Challenge) -> Challenge:
        """Record an issued challenge; `Unavailable` if the book is full of live ones."""
        with self._lock:
            if len(self._open) + len(self._used) >= self._max:
                self._purge(challenge.issued_at)
                if len(self._open) + len(self._used) >= self._max:
                    raise Unavailable(
                        "too many liveness challenges are open; retry in a moment",
                        code="challenges_full",
                    )
            self._open[challenge.nonce] = challenge
        return challenge

    def peek(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """What `redeem` would answer now, without consuming the nonce (a cheap pre-check)."""
        with self._lock:
            if nonce in self._used:
                return ChallengeStatus.REUSED, None
            challenge = self._open.get(nonce)
        if challenge is None:
            return ChallengeStatus.UNKNOWN, None
        if now > challenge.expires_at:
            return ChallengeStatus.EXPIRED, challenge
        return ChallengeStatus.VALID, challenge

    def redeem(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """Consume `nonce`: VALID once, REUSED afterwards, EXPIRED past its expiry."""
        with self._lock:
            if nonce in self._used:
                return ChallengeStatus.REUSED, None
            challenge = self._open.pop(nonce, None)
            if challenge is None:
                return ChallengeStatus.UNKNOWN, None
            self._used[nonce] = challenge.expires_at
        if now > challenge.expires_at:
            return ChallengeStatus.EXPIRED, challenge
        return ChallengeStatus.VALID, challenge

    def purge(self, *, now: datetime) -> int:
        """Forget expired challenges and the nonces of expired ones; returns how many."""
        with self._lock:
            return self._purge(now)

    def _purge(self, now: datetime) -> int:
        stale = [n for n, c in self._open.items() if c.expires_at < now]
        spent = [n for n, until in self._used.items() if until < now]
        for nonce in stale:
            del self._open[nonce]
        for nonce in spent:
            del self._used[nonce]
        return len(stale) + len(spent)
