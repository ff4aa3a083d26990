"""The 1:N decision rule on hand-made candidate lists."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from facepay.identity.matching import DecisionPolicy, decide

POLICY = DecisionPolicy(threshold=0.90, margin=0.02, band=0.01)


@dataclass(frozen=True)
class Hit:
    """Shaped like facepay.gallery.Candidate, which identity must not import."""

    template_id: str
    score: float


def test_no_candidates_is_no_match() -> None:
    result = decide([], policy=POLICY)
    assert (result.decision, result.why, result.template_id) == ("no_match", "no_candidates", None)


def test_top1_below_threshold_is_no_match() -> None:
    result = decide([Hit("a", 0.899), Hit("b", 0.5)], policy=POLICY)
    assert (result.decision, result.why, result.score) == ("no_match", "below_threshold", 0.899)
    assert result.contenders == ()


def test_clear_winner_matches_whatever_the_input_order() -> None:
    result = decide([Hit("b", 0.80), Hit("a", 0.97), Hit("c", 0.91)], policy=POLICY)
    assert (result.decision, result.template_id, result.why) == ("match", "a", "clear")
    assert [c.template_id for c in result.candidates] == ["a", "c", "b"]
    assert [c.template_id for c in result.contenders] == ["a"]


def test_exactly_at_threshold_plus_band_matches() -> None:
    assert decide([Hit("a", 0.91)], policy=POLICY).decision == "match"


def test_borderline_top1_is_ambiguous() -> None:
    result = decide([Hit("a", 0.905), Hit("b", 0.7)], policy=POLICY)
    assert (result.decision, result.why) == ("ambiguous", "near_threshold")
    assert result.template_id is None
    assert [c.template_id for c in result.contenders] == ["a"]


def test_close_second_is_ambiguous_and_lists_both() -> None:
    result = decide([Hit("a", 0.95), Hit("b", 0.935), Hit("c", 0.92)], policy=POLICY)
    assert (result.decision, result.why) == ("ambiguous", "close_second")
    assert [c.template_id for c in result.contenders] == ["a", "b"]


def test_close_second_below_threshold_still_makes_it_ambiguous() -> None:
    result = decide([Hit("a", 0.915), Hit("b", 0.899)], policy=POLICY)
    assert result.decision == "ambiguous"
    assert [c.template_id for c in result.contenders] == ["a", "b"]


def test_second_just_outside_margin_matches() -> None:
    assert decide([Hit("a", 0.95), Hit("b", 0.925)], policy=POLICY).decision == "match"


def test_ties_are_ordered_by_template_id() -> None:
    result = decide([Hit("b", 0.95), Hit("a", 0.95)], policy=POLICY)
    assert [c.template_id for c in result.contenders] == ["a", "b"]


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        DecisionPolicy(threshold=0.9, margin=-0.1, band=0.0)
