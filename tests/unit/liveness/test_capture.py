"""Captures: frames in order, registered sensors, terminal labels."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from facepay.shared.errors import InvalidInput
from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities

START = datetime(2026, 3, 1, tzinfo=UTC)
RGB = np.zeros((48, 64, 3), dtype=np.uint8)


def test_frames_must_be_in_time_order() -> None:
    with pytest.raises(InvalidInput, match="time order"):
        Capture((Frame(0.5, RGB), Frame(0.2, RGB)), TerminalCapabilities(), START)


def test_depth_must_be_registered_to_rgb() -> None:
    bad = Frame(0.0, RGB, depth=np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(InvalidInput, match="registered"):
        Capture((bad,), TerminalCapabilities(depth=True), START)


def test_frames_share_one_size_and_a_capture_is_not_empty() -> None:
    other = np.zeros((40, 64, 3), dtype=np.uint8)
    with pytest.raises(InvalidInput):
        Capture((Frame(0.0, RGB), Frame(0.1, other)), TerminalCapabilities(), START)
    with pytest.raises(InvalidInput):
        Capture((), TerminalCapabilities(), START)


def test_duration_end_and_labels() -> None:
    capture = Capture((Frame(0.0, RGB), Frame(2.5, RGB)), TerminalCapabilities(), START)
    assert capture.duration == 2.5
    assert (capture.ended_at - START).total_seconds() == 2.5
    assert TerminalCapabilities().label == "rgb"
    assert TerminalCapabilities(infrared=True).label == "rgb+ir"
    full = TerminalCapabilities(depth=True, infrared=True)
    assert full.label == "rgb+depth+ir"
    assert full.passive_capable
    assert not TerminalCapabilities(infrared=True).passive_capable
