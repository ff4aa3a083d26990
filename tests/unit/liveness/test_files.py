"""Reading captures from files: depth maps, IR images, videos; clear errors for bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from facepay.shared.errors import ImageRejected, InvalidInput
from facepay.vision.liveness.files import capture_from_files, read_depth, read_frames

START = datetime(2026, 3, 1, tzinfo=UTC)


def _png(path: Path, array: np.ndarray) -> Path:
    cv2.imwrite(str(path), array)
    return path


def test_depth_from_16_bit_png_and_npy_in_millimetres(tmp_path: Path) -> None:
    depth = np.full((30, 40), 450, dtype=np.uint16)
    depth[10, 10] = 0
    from_png = read_depth(_png(tmp_path / "d.png", depth))
    np.save(tmp_path / "d.npy", depth.astype(np.float64))
    from_npy = read_depth(tmp_path / "d.npy")
    for result in (from_png, from_npy):
        assert result.dtype == np.float32
        assert result[0, 0] == 450.0
        assert result[10, 10] == 0.0


def test_depth_rejects_8_bit_images_bad_shapes_and_pickles(tmp_path: Path) -> None:
    with pytest.raises(ImageRejected, match="16-bit"):
        read_depth(_png(tmp_path / "d8.png", np.zeros((8, 8), dtype=np.uint8)))
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 3)))
    with pytest.raises(InvalidInput, match="2-D"):
        read_depth(tmp_path / "cube.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput, match=r"obj\.npy"):
        read_depth(tmp_path / "obj.npy")
    with pytest.raises(InvalidInput, match="no such file"):
        read_depth(tmp_path / "absent.npy")


def test_frames_from_images_and_from_one_video(tmp_path: Path) -> None:
    gray = np.full((48, 64, 3), 120, dtype=np.uint8)
    paths = [_png(tmp_path / f"f{i}.png", gray) for i in range(3)]
    timed = read_frames(paths, fps=4.0)
    assert [t for t, _ in timed] == [0.0, 0.25, 0.5]
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 48))
    for _ in range(6):
        writer.write(gray)
    writer.release()
    frames = read_frames([video], fps=99.0)
    assert len(frames) == 6
    assert frames[1][0] == pytest.approx(0.2)
    assert frames[0][1].shape == (48, 64, 3)


def test_a_broken_video_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "v.mp4"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ImageRejected):
        read_frames([bogus], fps=10.0)


def test_depth_and_ir_pair_one_to_one_with_frames(tmp_path: Path) -> None:
    frames = [_png(tmp_path / f"f{i}.png", np.zeros((20, 20, 3), np.uint8)) for i in range(2)]
    depth = _png(tmp_path / "d.png", np.full((20, 20), 400, np.uint16))
    with pytest.raises(InvalidInput, match="one file per frame"):
        capture_from_files(frames, depth=[depth], infrared=[], fps=10, started_at=START, nonce=None)
    capture = capture_from_files(
        frames, depth=[depth, depth], infrared=frames, fps=10, started_at=START, nonce="n"
    )
    assert capture.capabilities.passive_capable
    assert capture.frames[1].infrared is not None
    assert capture.frames[1].infrared.shape == (20, 20)
