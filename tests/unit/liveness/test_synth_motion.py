"""The synthetic patient's timing: what each asked action looks like over time (no model)."""

from __future__ import annotations

from facepay.vision.liveness.challenge import Action, ActionWindow
from facepay.vision.liveness.synth.bona_fide import action_motion, frame_times


def _full(steps: tuple[ActionWindow, ...], field: str) -> list[float]:
    return [t for t in frame_times(steps) if getattr(action_motion(steps, t), field) >= 1.0]


def test_an_asked_open_mouth_is_held_about_a_second_inside_its_window() -> None:
    # Held for only 0.5 s (two frames at 4 fps), one frame whose landmarks missed the open mouth
    # left a single frame, shorter than an action must last: a genuine patient told to retry.
    steps = (
        ActionWindow(Action.TURN_LEFT, 0.904, 2.704),
        ActionWindow(Action.OPEN_MOUTH, 3.444, 5.244),
    )
    held = _full(steps, "mouth")
    assert len(held) >= 4
    assert held[-1] - held[0] >= 0.75
    opened = [t for t in frame_times(steps) if action_motion(steps, t).mouth > 0]
    assert opened[0] >= 3.444
    assert opened[-1] <= 5.244


def test_blinks_and_head_moves_keep_their_half_second_hold() -> None:
    steps = (ActionWindow(Action.BLINK, 0.6, 2.4), ActionWindow(Action.NOD, 3.0, 4.8))
    assert len(_full(steps, "blink")) <= 3
    assert [t for t in frame_times(steps) if action_motion(steps, t).pitch != 0] == [
        3.5,
        3.75,
        4.0,
        4.25,
    ]
