"""Challenge-response logic on hand-made landmark tracks (no model: the signals are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest

from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.challenge import Action, ActionWindow, Challenge
from facepay.vision.liveness.checks.active import ActiveChallengeCheck, detect_events
from facepay.vision.liveness.checks.base import AttackType, Evidence
from facepay.vision.liveness.tracks import FaceTrack, TrackedFrame
from facepay.vision.types import BoundingBox, Face

FACE = Face(BoundingBox(0, 0, 10, 10), 1.0, np.zeros((68, 2)))
REST = {"ear": 0.30, "mar": 0.05, "yaw": 0.0, "pitch": 0.0, "eye_match": 0.98}
POSES = {
    Action.BLINK: {"ear": 0.12, "eye_match": 0.55},
    Action.OPEN_MOUTH: {"mar": 0.55},
    Action.TURN_LEFT: {"yaw": 24.0, "nose_x": 0.22},
    Action.TURN_RIGHT: {"yaw": -24.0, "nose_x": -0.22},
    Action.NOD: {"pitch": 15.0, "nose_y": 0.50},
}
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def track(performed: list[tuple[Action, float]], *, seconds: float = 7.0) -> FaceTrack:
    """Frames at 4 fps; each performed action holds for 0.5 s around its time."""
    frames = []
    for i in range(int(seconds * 4) + 1):
        t = i / 4
        values: dict[str, Any] = dict(REST, nose_x=0.0, nose_y=0.35)
        for action, at in performed:
            if abs(t - at) <= 0.25:
                values.update(POSES[action])
        frames.append(TrackedFrame(index=i, t=t, face=FACE, **values))
    return FaceTrack(frames=tuple(frames))


def challenge(*actions: Action) -> Challenge:
    steps = tuple(ActionWindow(a, 0.5 + 2 * i, 2.3 + 2 * i) for i, a in enumerate(actions))
    return Challenge("nonce", steps, NOW, NOW + timedelta(seconds=30))


def evidence(tracked: FaceTrack, asked: Challenge | None) -> Evidence:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    frames = tuple(Frame(f.t, rgb) for f in tracked.frames)
    capture = Capture(frames, TerminalCapabilities(), NOW, asked.nonce if asked else None)
    return Evidence(capture=capture, track=tracked, engine=cast(Any, None), challenge=asked)


def test_each_action_is_seen_once_at_its_time() -> None:
    performed = [(Action.BLINK, 1.0), (Action.TURN_LEFT, 2.5), (Action.OPEN_MOUTH, 4.0),
                 (Action.NOD, 5.0), (Action.TURN_RIGHT, 6.0)]  # fmt: skip
    events = detect_events(track(performed))
    assert [e.action for e in events] == [a for a, _ in performed]
    assert all(abs(e.t - at) <= 0.25 for e, (_, at) in zip(events, performed, strict=True))


def test_a_single_noisy_frame_is_not_an_action() -> None:
    tracked = track([])
    frames = list(tracked.frames)
    frames[8] = TrackedFrame(
        index=8, t=2.0, face=FACE, **dict(REST, ear=0.1, nose_x=0.0, nose_y=0.35)
    )
    assert detect_events(FaceTrack(frames=tuple(frames))) == []


def test_asked_actions_in_their_windows_pass() -> None:
    asked = challenge(Action.BLINK, Action.TURN_RIGHT)
    result = ActiveChallengeCheck().run(
        evidence(track([(Action.BLINK, 1.4), (Action.TURN_RIGHT, 3.4)]), asked)
    )
    assert result.passed
    assert result.score == 1.0


def test_right_actions_in_the_wrong_order_fail() -> None:
    asked = challenge(Action.BLINK, Action.TURN_RIGHT)
    result = ActiveChallengeCheck().run(
        evidence(track([(Action.TURN_RIGHT, 1.4), (Action.BLINK, 3.4)]), asked)
    )
    assert not result.passed
    assert result.missing is Action.BLINK


def test_an_old_recording_with_other_actions_is_guessed_as_replay() -> None:
    asked = challenge(Action.OPEN_MOUTH, Action.NOD)
    recorded = track([(Action.TURN_LEFT, 1.4), (Action.TURN_RIGHT, 3.4), (Action.BLINK, 5.0)])
    result = ActiveChallengeCheck().run(evidence(recorded, asked))
    assert not result.passed
    assert result.attack is AttackType.CHALLENGE_REPLAY


@pytest.mark.parametrize("asked", [None, challenge(Action.BLINK, Action.NOD)])
def test_nothing_happening_fails_with_a_blink_prompt(asked: Challenge | None) -> None:
    result = ActiveChallengeCheck().run(evidence(track([]), asked))
    assert not result.passed
    assert result.attack is None
    assert result.details["deformations"] == 0
    assert result.missing is Action.BLINK


def test_passive_mode_accepts_a_spontaneous_blink() -> None:
    assert ActiveChallengeCheck().run(evidence(track([(Action.BLINK, 2.0)]), None)).passed


def test_a_nod_whose_middle_frame_slips_sideways_is_one_nod() -> None:
    # Seen on a face photographed 40° sideways: mid-nod, the landmarks slipped across the face
    # for one frame; frame by frame that read nod, turn_left, nod and failed as "unasked turn".
    tracked = track([(Action.BLINK, 1.4), (Action.NOD, 3.5)])
    frames = list(tracked.frames)
    slipped = frames[14]  # t = 3.5, the middle of the nod
    frames[14] = TrackedFrame(
        index=14, t=3.5, face=FACE,
        **dict(REST, pitch=7.5, nose_x=0.16, nose_y=0.43),
    )  # fmt: skip
    assert slipped.t == 3.5
    events = detect_events(FaceTrack(frames=tuple(frames)))
    assert [e.action for e in events] == [Action.BLINK, Action.NOD]
    result = ActiveChallengeCheck().run(
        evidence(FaceTrack(frames=tuple(frames)), challenge(Action.BLINK, Action.NOD))
    )
    assert result.passed, result.reason


def test_a_turn_and_a_nod_apart_in_time_stay_two_moves() -> None:
    events = detect_events(track([(Action.TURN_RIGHT, 1.5), (Action.NOD, 3.5)]))
    assert [e.action for e in events] == [Action.TURN_RIGHT, Action.NOD]


def test_a_turn_of_a_face_resting_turned_away_follows_the_nose() -> None:
    # A face resting ~40° away: turning left, solvePnP on the generic head reported yaw going
    # right and a 10° pitch change, while the nose crossed the outline to the left.
    tracked = track([(Action.TURN_LEFT, 1.5), (Action.BLINK, 3.5)])
    frames = [
        TrackedFrame(
            index=f.index, t=f.t, face=FACE,
            **dict(REST, ear=f.ear, eye_match=f.eye_match, yaw=-13.0, pitch=10.5,
                   nose_x=0.11, nose_y=0.38),
        )
        if f.yaw > 0
        else f
        for f in tracked.frames
    ]  # fmt: skip
    turned = FaceTrack(frames=tuple(frames))
    assert [e.action for e in detect_events(turned)] == [Action.TURN_LEFT, Action.BLINK]
    result = ActiveChallengeCheck().run(evidence(turned, challenge(Action.TURN_LEFT, Action.BLINK)))
    assert result.passed, result.reason
