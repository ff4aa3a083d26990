"""The terminal's capture sources around their ports: a camera stand-in for `VideoCapture`, a
video file written and read back, and the `facepay kiosk` command's refusals of bad options."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from facepay.cli import app
from facepay.config import Settings
from facepay.shared.errors import InvalidInput
from facepay.terminal.capture import (
    MAX_FRAMES,
    CameraSource,
    VideoFileSource,
    capture_body,
    write_video,
)
from facepay.terminal.signing import generate_terminal_key, private_key_to_pem
from facepay.vision.liveness import Capture, Challenge, TerminalCapabilities
from facepay.vision.liveness.capture import Frame
from facepay.vision.liveness.challenge import Action, ActionWindow

NOW = datetime.now(UTC)


def _challenge() -> Challenge:
    steps = (ActionWindow(Action.BLINK, 0.0, 0.2), ActionWindow(Action.TURN_LEFT, 0.2, 0.4))
    return Challenge("n" * 16, steps, NOW - timedelta(seconds=1), NOW + timedelta(seconds=30))


class FakeCamera:
    """What `cv2.VideoCapture(0)` gives: `isOpened`, `read` -> (ok, BGR frame), `release`."""

    def __init__(
        self, frames: int | None = None, *, opened: bool = True, size: tuple[int, int] = (48, 64)
    ) -> None:
        self.left = frames
        self.opened = opened
        self.released = False
        self.size = size

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        if self.left is not None:
            if self.left == 0:
                return False, None
            self.left -= 1
        return True, np.full((*self.size, 3), 120, dtype=np.uint8)

    def release(self) -> None:
        self.released = True


def test_the_camera_is_filmed_for_the_challenge_and_each_step_prompted_in_order() -> None:
    camera = FakeCamera()
    prompts: list[str] = []
    source = CameraSource(0, fps=20, opener=lambda _i: camera)
    captured = source.record(_challenge(), prompts.append)
    assert prompts == ["Please blink.", "Please turn your head to your left."]
    times = [f.t for f in captured.frames]
    assert times == sorted(times)
    assert times[-1] >= 0.4  # past the last window
    assert 8 <= len(times) <= 24  # about 20 fps for 0.8 s
    assert captured.challenge_nonce == "n" * 16
    assert camera.released
    body = capture_body(captured)
    assert set(body) == {"challenge_nonce", "started_at", "frames"}


def test_a_camera_that_cannot_open_or_stops_is_a_clear_error() -> None:
    closed = FakeCamera(opened=False)
    with pytest.raises(InvalidInput, match="cannot open camera 3"):
        CameraSource(3, opener=lambda _i: closed).record(_challenge(), print)
    assert closed.released
    with pytest.raises(InvalidInput, match="stopped sending frames"):
        CameraSource(0, opener=lambda _i: FakeCamera(2)).record(_challenge(), print)


def test_a_video_keeps_its_frame_rate_and_starts_after_the_challenge(tmp_path: Path) -> None:
    frames = tuple(
        Frame(t=i / 4, rgb=np.full((48, 64, 3), 10 * i, dtype=np.uint8)) for i in range(8)
    )
    write_video(tmp_path / "a.avi", Capture(frames, TerminalCapabilities(), NOW))
    challenge = _challenge()
    read = VideoFileSource(tmp_path / "a.avi").record(challenge, print)
    assert [f.t for f in read.frames] == [i / 4 for i in range(8)]
    assert read.started_at >= challenge.issued_at
    with pytest.raises(InvalidInput, match="no such file"):
        VideoFileSource(tmp_path / "missing.avi").record(challenge, print)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_kiosk_commands_refuse_bad_options_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    key = tmp_path / "kiosk.pem"
    key.write_bytes(private_key_to_pem(generate_terminal_key()))
    os.chmod(key, 0o600)
    card = tmp_path / "card.json"
    card.write_text('{"id_number": "110101198001010011", "name": "A", "sex": "M", '
                    '"birth_date": "1980-01-01"}')  # fmt: skip
    base = ["kiosk", "--server", "http://127.0.0.1:9", "--terminal", "trm_x", "--key", str(key)]
    cases = {
        "give exactly one of --camera": [*base, "identify"],
        "give exactly one of": [*base, "identify", "--camera", "0", "--video", str(card)],
        "separate biometric consent": [*base, "enrol", "--card", str(card), "--chip-photo",
                                       str(card), "--camera", "0"],
        "give --terminal ID and --key FILE": ["kiosk", "identify", "--video", str(card)],
        "no such file": [*base, "identify", "--video", str(tmp_path / "none.mp4")],
        "cannot reach the facepay server": [*base, "identify", "--video", str(card)],
    }  # fmt: skip
    for expected, args in cases.items():
        done = runner.invoke(app, args)
        assert done.exit_code == 2, (args, done.output)
        assert expected in done.stderr, (expected, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_key_file_others_can_read_or_that_is_no_key_is_refused(
    runner: CliRunner, tmp_path: Path
) -> None:
    key = tmp_path / "kiosk.pem"
    key.write_bytes(private_key_to_pem(generate_terminal_key()))
    os.chmod(key, 0o644)
    args = ["kiosk", "--terminal", "trm_x", "--key", str(key), "identify", "--camera", "0"]
    assert f"chmod 600 {key}" in runner.invoke(app, args).stderr
    key.write_text("not a key")
    os.chmod(key, 0o600)
    assert "is not an Ed25519 private key" in runner.invoke(app, args).stderr


def test_keygen_writes_a_private_key_once(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "kiosk.pem"
    made = runner.invoke(app, ["kiosk", "keygen", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(app, ["kiosk", "keygen", "--out", str(out)])
    assert again.exit_code == 2
    assert "exists already" in again.stderr


def _within_the_servers_limits(capture: Capture) -> None:
    settings = Settings()
    pixels = [f.rgb.shape[0] * f.rgb.shape[1] for f in capture.frames]
    assert len(capture.frames) <= min(MAX_FRAMES, settings.api_max_frames)
    assert max(max(f.rgb.shape[:2]) for f in capture.frames) <= 640
    assert sum(pixels) <= settings.api_max_capture_kept_pixels
    assert sum(pixels) <= settings.api_max_capture_source_pixels


def test_a_720p_webcam_at_20_fps_is_sent_within_the_servers_limits() -> None:
    """A real camera used to send every frame at full size: 69-86 frames for a three-step
    challenge, refused as too_many_frames (and a 720p one as capture_too_large)."""
    camera = FakeCamera(size=(720, 1280))
    captured = CameraSource(0, fps=40, opener=lambda _i: camera).record(_challenge(), print)
    _within_the_servers_limits(captured)
    assert len(captured.frames) == MAX_FRAMES  # 0.8 s at 40 fps, spread over 32 frames
    assert captured.frames[-1].t >= 0.4
    # On the server's clock, whatever the kiosk's says: just after the challenge was issued.
    challenge = _challenge()
    assert challenge.issued_at <= captured.started_at <= challenge.issued_at + timedelta(seconds=2)


def test_a_30_fps_phone_video_is_sent_within_the_servers_limits(tmp_path: Path) -> None:
    frames = tuple(
        Frame(t=i / 30, rgb=np.full((720, 1280, 3), i % 200, dtype=np.uint8)) for i in range(90)
    )
    write_video(tmp_path / "phone.avi", Capture(frames, TerminalCapabilities(), NOW))
    read = VideoFileSource(tmp_path / "phone.avi").record(_challenge(), print)
    _within_the_servers_limits(read)
    assert read.frames[0].t == 0.0
    assert read.frames[-1].t == pytest.approx(89 / 30)
