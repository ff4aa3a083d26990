"""Safe image decoding on real photos and on hostile or unusual files."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facepay.shared.errors import ImageRejected
from facepay.vision.image import decode_image, load_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def obama(images_dir: Path) -> Image.Image:
    with Image.open(images_dir / "obama.jpg") as image:
        return image.convert("RGB")


def test_real_jpeg_decodes_to_rgb_uint8(images_dir: Path) -> None:
    array = load_image(images_dir / "obama.jpg")
    assert array.dtype == np.uint8
    assert array.shape == (1137, 910, 3)
    assert array.flags.c_contiguous


def test_alpha_png_is_composited_on_white(images_dir: Path) -> None:
    array = load_image(images_dir / "32bit.png")
    assert array.shape == (1200, 626, 3)
    with Image.open(images_dir / "32bit.png") as rgba:
        alpha = np.asarray(rgba)[:, :, 3]
    opaque = alpha == 255
    assert opaque.any()


def test_fully_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (32, 32), (10, 20, 30, 0))
    array = decode_image(_encode(image, "PNG"))
    assert (array == 255).all()


def test_cmyk_jpeg_is_converted(obama: Image.Image) -> None:
    data = _encode(obama.convert("CMYK"), "JPEG", quality=90)
    array = decode_image(data)
    assert array.shape == (1137, 910, 3)
    # Colours survive the round trip (not inverted): close to the RGB decode on average.
    assert abs(float(array.mean()) - float(np.asarray(obama).mean())) < 12


def test_16bit_png_keeps_its_tones(obama: Image.Image) -> None:
    grey = np.asarray(obama.convert("L")).astype(np.uint16) * 257
    data = _encode(Image.fromarray(grey), "PNG")
    array = decode_image(data)
    assert array.shape == (1137, 910, 3)
    assert (
        abs(int(array[..., 0].astype(int).mean()) - int(np.asarray(obama.convert("L")).mean())) <= 1
    )


def test_exif_orientation_is_applied(obama: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    data = _encode(obama, "JPEG", exif=exif.tobytes())
    assert decode_image(data).shape == (910, 1137, 3)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 this is not an image at all" * 10, "not a supported image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a supported image"),
    ],
)
def test_garbage_is_rejected(data: bytes, needle: str) -> None:
    with pytest.raises(ImageRejected, match=needle):
        decode_image(data)


def test_truncated_jpeg_is_rejected(images_dir: Path) -> None:
    data = (images_dir / "obama.jpg").read_bytes()
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_corrupt_jpeg_body_is_rejected_or_decoded_never_crashes(images_dir: Path) -> None:
    data = bytearray((images_dir / "obama.jpg").read_bytes())
    data[2000:60000] = bytes(58000)
    with contextlib.suppress(ImageRejected):
        decode_image(bytes(data))


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims `width`×`height` (the classic decompression bomb)."""
    data = bytearray(_encode(Image.new("L", (16, 16)), "PNG"))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_20000_square_is_refused_from_the_header() -> None:
    data = _png_claiming(20000, 20000)
    assert len(data) < 200
    with pytest.raises(ImageRejected, match="too many pixels"):
        decode_image(data)


def test_pixel_limit_is_configurable(obama: Image.Image) -> None:
    with pytest.raises(ImageRejected, match="too many pixels"):
        decode_image(_encode(obama, "PNG"), max_pixels=100_000)


def test_tiny_image_is_refused() -> None:
    with pytest.raises(ImageRejected, match="too small"):
        decode_image(_encode(Image.new("RGB", (4, 4)), "PNG"))


def test_zero_byte_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageRejected, match=r"empty\.jpg: the image is empty"):
        load_image(empty)
    with pytest.raises(ImageRejected, match="cannot read"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageRejected, match="cannot read"):
        load_image(tmp_path)
