"""`facepay liveness check` and `facepay eval liveness` end to end, on files written to tmp_path."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from facepay.cli import app
from facepay.commands import eval_liveness as eval_commands
from facepay.commands import liveness as liveness_commands
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.liveness.capture import Capture, TerminalCapabilities
from facepay.vision.liveness.challenge import issue_challenge
from facepay.vision.liveness.evaluation import PHOTOS
from facepay.vision.liveness.synth import attacks
from facepay.vision.liveness.synth.bona_fide import FPS, Subject, bona_fide_capture

pytestmark = pytest.mark.slow
FULL = TerminalCapabilities(depth=True, infrared=True)


@pytest.fixture
def runner(liveness_engine: DlibFaceEngine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI with the session's engine (the commands build theirs through bootstrap)."""
    for module in (liveness_commands, eval_commands):
        monkeypatch.setattr(module, "build_face_engine", lambda settings: liveness_engine)
    return CliRunner()


def write_capture(capture: Capture, folder: Path) -> list[str]:
    """Frames as PNG, depth as 16-bit PNG (mm), IR as PNG; returns the CLI arguments."""
    folder.mkdir()
    frames, extra = [], []
    for i, frame in enumerate(capture.frames):
        rgb = folder / f"frame{i:02}.png"
        cv2.imwrite(str(rgb), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
        frames.append(str(rgb))
        if frame.depth is not None:
            depth = folder / f"depth{i:02}.png"
            cv2.imwrite(str(depth), frame.depth.astype(np.uint16))
            extra += ["--depth", str(depth)]
        if frame.infrared is not None:
            ir = folder / f"ir{i:02}.png"
            cv2.imwrite(str(ir), frame.infrared)
            extra += ["--ir", str(ir)]
    return [*frames, *extra, "--fps", str(FPS)]


def test_bona_fide_capture_with_its_challenge_is_live(
    runner: CliRunner, subjects: dict[str, Subject], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    challenge = issue_challenge(now=now, rng=random.Random(31))
    capture = bona_fide_capture(
        subjects["obama"], challenge=challenge, capabilities=TerminalCapabilities(),
        started_at=now + timedelta(seconds=0.5), rng=random.Random(3),
    )  # fmt: skip
    challenge_file = tmp_path / "challenge.json"
    challenge_file.write_text(json.dumps(challenge.to_json()))
    args = write_capture(capture, tmp_path / "capture")
    result = runner.invoke(
        app, ["liveness", "check", *args, "--challenge", str(challenge_file), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["decision"] == "live", report["reason"]
    assert report["frames"] == len(capture.frames)
    assert report["checks"]["active"]["passed"]
    assert not report["checks"]["depth"]["applicable"]


def test_printed_photo_on_a_depth_terminal_is_a_print(
    runner: CliRunner, subjects: dict[str, Subject], tmp_path: Path
) -> None:
    capture = attacks.printed_photo(
        subjects["biden"], challenge=None, capabilities=FULL,
        started_at=datetime.now(UTC), rng=random.Random(4), moved=True, sag_mm=10.0,
    )  # fmt: skip
    result = runner.invoke(
        app, ["liveness", "check", *write_capture(capture, tmp_path / "p"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["decision"], report["attack"]) == ("spoof", "print")
    assert report["checks"]["depth"]["passed"] is False


def test_one_video_file_on_an_rgb_terminal_needs_a_challenge(
    runner: CliRunner, subjects: dict[str, Subject], tmp_path: Path
) -> None:
    video = tmp_path / "capture.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 320))
    for _ in range(12):
        writer.write(cv2.cvtColor(subjects["obama"].image, cv2.COLOR_RGB2BGR))
    writer.release()
    result = runner.invoke(app, ["liveness", "check", str(video), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["decision"] == "retry"
    assert report["frames"] == 12
    assert "active challenge" in report["reason"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [str(d / "missing.png")], "no such file"),
        (lambda d: [str(_write(d / "junk.png", b"not a png"))], "junk.png"),
        (
            lambda d: [str(_frame(d)), "--depth", str(_write(d / "d.npy", b"\x93NUMPY junk"))],
            "d.npy",
        ),
        (lambda d: [str(_frame(d)), "--depth", str(_frame(d))], "16-bit"),
        (lambda d: [str(_frame(d)), "--challenge", "{nope"], "not valid JSON"),
    ],
)
def test_bad_files_exit_2_with_a_clear_message(
    runner: CliRunner, tmp_path: Path, make, message: str
) -> None:
    result = runner.invoke(app, ["liveness", "check", *make(tmp_path), "--json"])
    assert result.exit_code == 2
    assert message.lower() in " ".join(result.stderr.split()).lower()
    assert "Traceback" not in result.output


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _frame(folder: Path) -> Path:
    path = folder / "frame.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 128, dtype=np.uint8))
    return path


def test_eval_liveness_takes_the_sample_set_by_its_own_list(images_dir: Path) -> None:
    assert eval_commands.photo_list(images_dir) == PHOTOS  # t1.jpg six people, and the rest
    assert eval_commands.REPOSITORY_IMAGES.resolve() == images_dir.resolve()  # from any folder


def test_eval_liveness_on_the_operators_own_photos_from_any_folder(
    runner: CliRunner, images_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of the operator's photos, named as they like, evaluated from another folder."""
    own = tmp_path / "our-staff-photos"
    own.mkdir()
    (own / "wang-wei.jpg").write_bytes((images_dir / "obama2.jpg").read_bytes())
    (own / "li-na.jpg").write_bytes((images_dir / "biden.jpg").read_bytes())
    (own / "notes.txt").write_text("not a photo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(
        app, ["eval", "liveness", "--images", str(own), "--limit", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"attacks", "bpcer", "bona_fide_attempts"}
    assert data["bona_fide_attempts"] == 3
    assert all(row["apcer"] == 0.0 and row["attempts"] >= 2 for row in data["attacks"].values())
    assert 0.0 <= data["bpcer"] <= 1.0  # of the operator's photos: the figure is theirs
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = runner.invoke(app, ["eval", "liveness", "--images", str(empty)])
    assert refused.exit_code == 2
    assert "no photos" in refused.stderr
