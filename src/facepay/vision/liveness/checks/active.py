"""Active challenge–response: were the asked actions done, in order, inside their windows?

Events come from the landmark track. A blink is the eye aspect ratio falling below 0.8 of its
median, or the eye regions no longer matching the first frame's while the head holds still. An
open mouth is the inner-lip ratio rising well above its closed level. Turns and nods are yaw and
pitch changes against the capture's median, or the nose tip moving across the face outline.
Without a challenge (a passive RGB+depth+IR terminal) the check still asks for one spontaneous
blink or mouth movement: a rigid mask or a photo cannot deform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepay.vision.liveness.challenge import DEFORMING, HEAD_MOVES, Action
from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence
from facepay.vision.liveness.tracks import FaceTrack

BLINK_RATIO = 0.8
MOUTH_RISE = 0.15
TURN_DEG = 12.0
TURN_SHIFT = 0.10
NOD_SHIFT = 0.08
NOD_DEG = 7.0
MIN_EVENT_SECONDS = 0.15
EYE_MATCH = 0.85
STILL = 0.5
OUTLINE_SURE = 0.5
"""Mean nose shift (in threshold units) over a head move above which it, not pose, decides."""


@dataclass(frozen=True, slots=True)
class Event:
    """An action seen in the track, at the time of its peak."""

    action: Action
    t: float


def detect_events(track: FaceTrack) -> list[Event]:
    """Every blink, mouth opening, turn and nod visible in the track, in time order.

    Head moves count only while the mouth is shut (a dropping jaw drags the chin and mouth
    landmarks that the pose solver uses) and only along their dominant axis (a nod leaks a few
    degrees into yaw). A blink or mouth opening must last `MIN_EVENT_SECONDS`, so that one noisy
    frame is not an action; head moves are clear enough in one frame (two cues, high thresholds),
    and the far end of a turn is where the detector is most likely to lose a frame.
    """
    times, ear = track.series("ear")
    _, mar = track.series("mar")
    if len(times) < 3:
        return []
    # Head moves in units of their thresholds, from two cues: the pose solver's yaw/pitch and
    # the nose's place within the face outline. Either may carry the move.
    yaw = _delta(track, "yaw") / TURN_DEG
    across = _delta(track, "nose_x") / TURN_SHIFT
    pitch = np.abs(_delta(track, "pitch")) / NOD_DEG
    down = np.abs(_delta(track, "nose_y")) / NOD_SHIFT
    turn = np.maximum(np.abs(yaw), np.abs(across))
    nod = np.maximum(pitch, down)
    mouth = mar - (np.percentile(mar, 20) + MOUTH_RISE)
    # A frame next to an open mouth is half open: the jaw still drags the pose.
    opened = mouth > 0
    before = np.concatenate([[False], opened[:-1]])
    after = np.concatenate([opened[1:], [False]])
    shut = ~(opened | before | after)
    _, eye_match = track.series("eye_match")
    # The eye-appearance cue only counts while the head holds still (turns change it too).
    still_head = shut & (turn < STILL) & (nod < STILL)
    closed_look = np.where(still_head, EYE_MATCH - eye_match, -1.0)
    signals = {
        Action.BLINK: np.maximum(np.median(ear) * BLINK_RATIO - ear, closed_look),
        Action.OPEN_MOUTH: mouth,
        **_head_moves((yaw, pitch), (across, down), shut),
    }
    events: list[Event] = []
    for action, signal in signals.items():
        least = MIN_EVENT_SECONDS if action in DEFORMING else 0.0
        events.extend(Event(action, float(times[i])) for i in _peaks(signal, times, least))
    return sorted(events, key=lambda e: e.t)


def _head_moves(
    pose: tuple[np.ndarray, np.ndarray],
    outline: tuple[np.ndarray, np.ndarray],
    shut: np.ndarray,
) -> dict[Action, np.ndarray]:
    """Turn and nod signals, one action per excursion of the head away from its rest pose.

    `pose` is (yaw, pitch) and `outline` the nose's (across, down) shift, in units of their
    thresholds. A head move is one continuous excursion, so its axis and direction are decided
    over the whole excursion, not frame by frame: one frame whose landmarks slip sideways in the
    middle of a nod is not a second, unasked action. The outline cue decides when it moved: on
    a face that rests turned away, solvePnP on a generic head leaks a turn into pitch and can
    even report it in the wrong direction, while the nose still crosses the outline the right way.
    """
    yaw, pitch = pose
    across, down = outline
    turn = np.maximum(np.abs(yaw), np.abs(across))
    nod = np.maximum(np.abs(pitch), down)
    strength = np.where(shut, np.maximum(turn, nod) - 1.0, -1.0)
    moves = {a: np.full(len(turn), -1.0) for a in HEAD_MOVES}
    start = None
    for i, value in enumerate([*strength.tolist(), -1.0]):
        if value > 0 and start is None:
            start = i
        elif value <= 0 and start is not None:
            run = slice(start, i)
            moves[_move_of(run, yaw, pitch, across, down)][run] = strength[run]
            start = None
    return moves


def _move_of(
    run: slice, yaw: np.ndarray, pitch: np.ndarray, across: np.ndarray, down: np.ndarray
) -> Action:
    """The head move one excursion was: by the nose in the outline when it moved, else by pose."""
    sideways, lowered = float(np.abs(across[run]).mean()), float(down[run].mean())
    if max(sideways, lowered) >= OUTLINE_SURE:
        nodding = lowered > sideways
    else:
        nodding = np.abs(pitch[run]).sum() > np.abs(yaw[run]).sum()
    if nodding:
        return Action.NOD
    direction = across[run].sum() if sideways >= OUTLINE_SURE else yaw[run].sum()
    return Action.TURN_LEFT if direction >= 0 else Action.TURN_RIGHT


def _delta(track: FaceTrack, name: str) -> np.ndarray:
    """A signal minus its median over the capture (most frames are the resting face)."""
    _, values = track.series(name)
    return np.asarray(np.nan_to_num(values - np.nanmedian(values), nan=0.0), dtype=np.float64)


def _peaks(signal: np.ndarray, times: np.ndarray, least: float) -> list[int]:
    """Index of the maximum of every run of positive values lasting at least `least` seconds."""
    peaks, start = [], None
    for i, value in enumerate([*signal.tolist(), -1.0]):
        if value > 0 and start is None:
            start = i
        elif value <= 0 and start is not None:
            if times[i - 1] - times[start] >= least:
                peaks.append(start + int(np.argmax(signal[start:i])))
            start = None
    return peaks


class ActiveChallengeCheck:
    """The challenge's actions, each in its window; without one, a spontaneous deformation."""

    name = "active"

    def run(self, evidence: Evidence) -> CheckResult:
        """Match detected events to the challenge's steps."""
        events = detect_events(evidence.track)
        deformations = [e for e in events if e.action in DEFORMING]
        seen = ", ".join(f"{e.action.value}@{e.t:.1f}s" for e in events) or "nothing"
        details = {"events": float(len(events)), "deformations": float(len(deformations))}
        challenge = evidence.challenge
        if challenge is None:
            if deformations:
                return CheckResult(self.name, 1.0, True, f"spontaneous {seen}", details=details)
            return CheckResult(
                self.name,
                0.0,
                False,
                "no blink or mouth movement seen",
                missing=Action.BLINK,
                details=details,
            )
        matched: set[int] = set()
        missing: Action | None = None
        for step in challenge.steps:
            hit = next(
                (
                    i
                    for i, e in enumerate(events)
                    if i not in matched
                    and e.action is step.action
                    and step.start <= e.t <= step.end
                ),
                None,
            )
            if hit is None:
                missing = missing or step.action
            else:
                matched.add(hit)
        # A second detection of an asked action inside its own window is the same action.
        wrong = [
            e
            for i, e in enumerate(events)
            if i not in matched
            and e.action is not Action.BLINK
            and not any(s.action is e.action and s.start <= e.t <= s.end for s in challenge.steps)
        ]
        details["matched"] = float(len(matched))
        details["unexpected"] = float(len(wrong))
        score = len(matched) / len(challenge.steps)
        asked = ", ".join(a.value for a in challenge.actions)
        if missing is None and not wrong:
            return CheckResult(
                self.name, score, True, f"asked {asked}; saw {seen}", details=details
            )
        # Two or more confident actions that were not asked: a recording of another challenge.
        # One stray action (a prefix of an old challenge, or a confused patient) earns a retry.
        attack = AttackType.CHALLENGE_REPLAY if len(wrong) >= 2 else None
        lacking = f"missing {missing.value}" if missing else f"unasked {wrong[0].action.value}"
        return CheckResult(
            self.name,
            score,
            False,
            f"asked {asked}; saw {seen}; {lacking}",
            attack=attack,
            missing=missing or challenge.steps[0].action,
            details=details,
        )
