"""Pieces of the NumPy port of dlib's ResNet that need no weights (the whole network is checked
against dlib itself in tests/integration/vision/test_dlib_engine.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepay.vision.resnet_numpy import NumpyDlibResNet, _add, _avg_pool_2x2_s2, _Reader


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"\x01\x0d", 13), (b"\x81\x11", -17), (b"\x02\x80\x12", 4736), (b"\x00", 0)],
)
def test_dlib_integers(data: bytes, value: int) -> None:
    reader = _Reader(data, 0)
    assert reader.integer() == value
    assert reader.pos == len(data)


def test_dlib_float_is_mantissa_times_power_of_two() -> None:
    # 122.782 as dlib writes the red mean of the input layer.
    reader = _Reader(b"\x03b\x90\xf5\x81\x11", 0)
    assert reader.real() == pytest.approx(122.782, abs=1e-3)


def test_add_treats_the_smaller_tensor_as_zero_padded() -> None:
    a = np.ones((3, 3, 4), dtype=np.float32)
    b = np.full((4, 4, 2), 2.0, dtype=np.float32)
    out = _add(a, b)
    assert out.shape == (4, 4, 4)
    assert out[0, 0].tolist() == [3.0, 3.0, 1.0, 1.0]
    assert out[3, 3].tolist() == [2.0, 2.0, 0.0, 0.0]


def test_average_pool_drops_the_odd_edge() -> None:
    x = np.arange(25, dtype=np.float32).reshape(5, 5, 1)
    pooled = _avg_pool_2x2_s2(x)
    assert pooled.shape == (2, 2, 1)
    assert pooled[0, 0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4)


def test_other_files_are_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.dat"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not dlib's face recognition ResNet"):
        NumpyDlibResNet(bogus)
