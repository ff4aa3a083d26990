"""The 1:N decision: `match`, `ambiguous` or `no_match` from scored gallery candidates.

Pure logic over anything with a `template_id` and a `score` (cosine similarity, higher is more
alike), so that identity does not depend on the gallery package. The rule:

- no candidate, or top-1 below `threshold`                      → `no_match`
- top-1 within `band` above the threshold (a borderline score)  → `ambiguous`
- top-2 within `margin` of top-1 (even if below the threshold)  → `ambiguous`
- otherwise                                                      → `match` on top-1

`ambiguous` means the face alone is not enough: the caller asks for a second factor (the last 4
digits of the phone or ID number) and picks among `contenders`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

Decision = Literal["match", "ambiguous", "no_match"]
Why = Literal["no_candidates", "below_threshold", "near_threshold", "close_second", "clear"]


class ScoredCandidate(Protocol):
    """A gallery hit: which template and how similar (read-only, e.g. a frozen dataclass)."""

    @property
    def template_id(self) -> str:
        """The template the score belongs to."""
        ...

    @property
    def score(self) -> float:
        """Similarity to the probe; higher is more alike."""
        ...


@dataclass(frozen=True, slots=True)
class Scored:
    """A (template id, score) pair as kept in an `Identification`."""

    template_id: str
    score: float


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Threshold, ambiguity band above it and the top-1/top-2 margin (from Settings)."""

    threshold: float
    margin: float
    band: float

    def __post_init__(self) -> None:
        if self.margin < 0 or self.band < 0:
            msg = "margin and band must not be negative"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Identification:
    """The decision, the matched template (match only), why, and the candidates considered."""

    decision: Decision
    template_id: str | None
    score: float | None
    why: Why
    contenders: tuple[Scored, ...]
    """What a second factor chooses among, best first: top-1 and every candidate within
    `margin` of it when ambiguous; top-1 alone on a match; nothing on no_match."""
    candidates: tuple[Scored, ...]


def decide(candidates: Iterable[ScoredCandidate], *, policy: DecisionPolicy) -> Identification:
    """Turn scored candidates (any order) into match / ambiguous / no_match."""
    ranked = tuple(
        sorted(
            (Scored(template_id=c.template_id, score=float(c.score)) for c in candidates),
            key=lambda c: (-c.score, c.template_id),
        )
    )
    if not ranked:
        return _result("no_match", why="no_candidates", ranked=ranked)
    top = ranked[0]
    if top.score < policy.threshold:
        return _result("no_match", why="below_threshold", ranked=ranked)
    close = tuple(c for c in ranked if top.score - c.score <= policy.margin)
    if len(close) > 1:
        return _result("ambiguous", why="close_second", ranked=ranked, contenders=close)
    if top.score < policy.threshold + policy.band:
        return _result("ambiguous", why="near_threshold", ranked=ranked, contenders=close)
    return _result("match", why="clear", ranked=ranked, contenders=(top,))


def _result(
    decision: Decision,
    *,
    why: Why,
    ranked: tuple[Scored, ...],
    contenders: tuple[Scored, ...] = (),
) -> Identification:
    return Identification(
        decision=decision,
        template_id=ranked[0].template_id if decision == "match" else None,
        score=ranked[0].score if ranked else None,
        why=why,
        contenders=contenders,
        candidates=ranked,
    )
