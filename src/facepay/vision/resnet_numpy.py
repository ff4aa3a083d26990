"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) run with NumPy.

Why: the `dlib-bin` wheel is built without BLAS, so dlib's own forward pass of this network
takes ~115 ms per face on one core, most of the kiosk's time budget. The same weights run here
as im2col + one float32 GEMM per convolution (OpenBLAS, through NumPy) in ~20 ms, with outputs
equal to dlib's to within 1e-6 (checked on every sample photo by the integration tests), so the
embeddings stay comparable and keep the model tag `dlib-resnet-v1`.

The weights are read from dlib's own file (nothing is downloaded): dlib serialises each layer as
its name, integers in its variable-length format and tensors as little-endian float32. The
network is dlib's `anet_type` from dnn_face_recognition_ex.cpp:

    input 150×150 RGB, (x - mean) / 256
    conv 7×7/2 (32) + affine + relu, max-pool 3×3/2
    residual units: 3 × 32; down + 3 × 64; down + 2 × 128; down + 2 × 256; down 256
      unit = conv3×3/s + affine + relu, conv 3×3/1 + affine, + skip, relu
      a "down" unit has s = 2 and a 2×2/2 average-pooled skip; where the two branches differ
      in size dlib adds them as if the smaller were zero-padded (channels and bottom/right)
    global average pool, fully connected 256 → 128 without bias

Each affine (frozen batch norm) is folded into the preceding convolution at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]
DOWN_UNITS: tuple[bool, ...] = (
    *(False, False, False),  # 32 channels, 35×35
    *(True, False, False, False),  # 64, 17×17
    *(True, False, False),  # 128, 8×8
    *(True, False, False),  # 256, 3×3 (4×4 after the zero-padded sum)
    True,  # 256, 1×1 (2×2)
)
"""Residual units in input-to-output order; True where the unit halves the resolution."""
_CON, _AFFINE, _FC = b"\x05con_4", b"\x07affine_", b"\x04fc_2"
_INPUT = b"input_rgb_image_sized"


@dataclass(frozen=True, slots=True)
class _Conv:
    weights: Array  # (kh·kw·C, N), rows ordered (dy, dx, c)
    bias: Array
    kernel: int
    stride: int
    padding: int


class _Reader:
    """Sequential reader of dlib's serialisation format."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.pos = offset

    def integer(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa * 2.0 ** self.integer())

    def tensor(self) -> Array:
        if self.integer() != 2:
            msg = "unsupported dlib tensor version"
            raise ValueError(msg)
        size = 1
        for _ in range(4):
            size *= self.integer()
        values = np.frombuffer(self.data, dtype="<f4", count=size, offset=self.pos)
        self.pos += 4 * size
        return values.astype(np.float32)


class NumpyDlibResNet:
    """The 128-d face descriptor of a 150×150 aligned RGB chip, as dlib computes it."""

    def __init__(self, weights_file: Path) -> None:
        data = weights_file.read_bytes()
        start = data.find(_INPUT)
        if start < 0:
            msg = f"{weights_file.name} is not dlib's face recognition ResNet"
            raise ValueError(msg)
        reader = _Reader(data, start + len(_INPUT))
        self._means = np.array([reader.real() for _ in range(3)], dtype=np.float32)
        convs: list[tuple[Array, list[int]]] = []
        affines: list[Array] = []
        fc: Array | None = None
        markers = _Markers(data)
        while (found := markers.next(reader.pos)) is not None:
            reader.pos, marker = found
            if marker == _CON:
                params = reader.tensor()
                convs.append((params, [reader.integer() for _ in range(7)]))
            elif marker == _AFFINE:
                affines.append(reader.tensor())
            else:
                outputs, inputs = reader.integer(), reader.integer()
                fc = reader.tensor().reshape(inputs, outputs)
        if fc is None or len(convs) != 1 + 2 * len(DOWN_UNITS) or len(affines) != len(convs):
            msg = f"{weights_file.name}: unexpected layer layout ({len(convs)} convolutions)"
            raise ValueError(msg)
        self._fc = fc
        self._convs = _fold(convs, affines)
        strides = [c.stride for c in self._convs[1::2]]
        if strides != [2 if down else 1 for down in DOWN_UNITS]:
            msg = f"{weights_file.name}: residual strides {strides} differ from dlib's anet_type"
            raise ValueError(msg)

    def __call__(self, chip: NDArray[np.uint8]) -> Array:
        """The raw (not normalised) 128-d descriptor of one 150×150×3 RGB chip."""
        x = (chip.astype(np.float32) - self._means) / np.float32(256.0)
        convs = iter(self._convs)
        x = _max_pool_3x3_s2(_conv(x, next(convs), relu=True))
        for down in DOWN_UNITS:
            y = _conv(_conv(x, next(convs), relu=True), next(convs), relu=False)
            y = _add(y, _avg_pool_2x2_s2(x) if down else x)
            x = np.maximum(y, np.float32(0.0), out=y)
        result: Array = x.mean(axis=(0, 1), dtype=np.float32) @ self._fc
        return result


class _Markers:
    """Finds the next layer marker; caches each marker's next hit (the file is 22 MB)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._hits = {m: data.find(m) for m in (_CON, _AFFINE, _FC)}

    def next(self, pos: int) -> tuple[int, bytes] | None:
        for marker, hit in self._hits.items():
            if 0 <= hit < pos:
                self._hits[marker] = self._data.find(marker, pos)
        found = [(hit + len(m), m) for m, hit in self._hits.items() if hit >= 0]
        return min(found) if found else None


def _fold(convs: list[tuple[Array, list[int]]], affines: list[Array]) -> list[_Conv]:
    """Fold each affine layer (scale, shift per channel) into its convolution."""
    result: list[_Conv] = []
    channels = 3
    for (params, (n, kh, kw, stride, _, pad, _)), affine in zip(convs, affines, strict=True):
        size = n * channels * kh * kw
        weights = params[:size].reshape(n, channels, kh, kw)
        bias = params[size:] if params.size > size else np.zeros(n, dtype=np.float32)
        gamma, beta = np.split(affine, 2)
        folded = (weights * gamma[:, None, None, None]).transpose(2, 3, 1, 0)
        result.append(
            _Conv(
                weights=np.ascontiguousarray(folded.reshape(kh * kw * channels, n)),
                bias=(bias * gamma + beta).astype(np.float32),
                kernel=kh,
                stride=stride,
                padding=pad,
            )
        )
        channels = n
    return result


def _conv(x: Array, conv: _Conv, *, relu: bool) -> Array:
    """Convolution of an H×W×C map as one GEMM over gathered patches (im2col)."""
    k, s = conv.kernel, conv.stride
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((p, p), (p, p), (0, 0)))
    height, width, channels = x.shape
    out_h, out_w = (height - k) // s + 1, (width - k) // s + 1
    cols = np.empty((out_h, out_w, k * k * channels), dtype=np.float32)
    for i, (dy, dx) in enumerate((dy, dx) for dy in range(k) for dx in range(k)):
        window = x[dy : dy + s * (out_h - 1) + 1 : s, dx : dx + s * (out_w - 1) + 1 : s]
        cols[:, :, i * channels : (i + 1) * channels] = window
    y: Array = cols.reshape(out_h * out_w, -1) @ conv.weights
    y += conv.bias
    if relu:
        np.maximum(y, np.float32(0.0), out=y)
    return y.reshape(out_h, out_w, -1)


def _max_pool_3x3_s2(x: Array) -> Array:
    h, w = (x.shape[0] - 3) // 2 + 1, (x.shape[1] - 3) // 2 + 1
    windows = [
        x[dy : dy + 2 * h - 1 : 2, dx : dx + 2 * w - 1 : 2] for dy in range(3) for dx in range(3)
    ]
    result: Array = np.maximum.reduce(windows)
    return result


def _avg_pool_2x2_s2(x: Array) -> Array:
    h, w = (x.shape[0] - 2) // 2 + 1, (x.shape[1] - 2) // 2 + 1
    total = x[0 : 2 * h : 2, 0 : 2 * w : 2] + x[1 : 2 * h : 2, 0 : 2 * w : 2]
    total += x[0 : 2 * h : 2, 1 : 2 * w : 2] + x[1 : 2 * h : 2, 1 : 2 * w : 2]
    result: Array = total * np.float32(0.25)
    return result


def _add(a: Array, b: Array) -> Array:
    """dlib's add_prev: element-wise sum, the smaller tensor treated as zero-padded."""
    if a.shape == b.shape:
        a += b
        return a
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out
