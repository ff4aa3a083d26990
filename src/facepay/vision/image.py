"""Safe decoding of untrusted image bytes into RGB uint8 arrays.

Every failure is an `ImageRejected` with a plain message, never a Pillow or NumPy exception.
The pixel count is checked from the header, before any pixel is decoded, so a 20000×20000 "image
bomb" of a few kilobytes is refused without allocating it; `image_size` reads only the header, so
that a whole capture's pixels can be bounded before any frame is decoded. With `max_side`, a
larger image is decoded downscaled: a JPEG by libjpeg's DCT scaling (it never exists at full
size), anything else scaled right after decoding, before any copy is made of it.

Only the formats a camera or phone produces are parsed (fewer parsers, less attack surface).
EXIF orientation is applied, alpha is composited onto white (the usual ID-photo background), CMYK
and 16-bit inputs are converted.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facepay.shared.errors import ImageRejected
from facepay.vision.types import RGBImage

MAX_PIXELS = 40_000_000
"""Largest accepted image (about 7300×5500): above any phone camera, far below a bomb."""
MAX_BYTES = 40 * 1024 * 1024
MIN_SIDE = 16
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_DIRECT_MODES = ("RGB", "L", "1", "CMYK", "YCbCr", "P")


def decode_image(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int | None = None
) -> RGBImage:
    """Decode image bytes to an H×W×3 uint8 RGB array, or raise `ImageRejected`; with
    `max_side`, an image whose longer side is above it comes out scaled down to it."""
    with _opened(data, max_pixels) as opened:
        try:
            if max_side is not None and max(opened.size) > max_side:
                image = _downscaled(opened, max_side)
            else:
                opened.load()
                image = opened
            return _to_rgb(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageRejected(f"the image is corrupt or truncated ({error})") from None


def image_size(data: bytes, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone, checked against `max_pixels`; no pixel decoded."""
    with _opened(data, max_pixels) as image:
        return image.size


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size `decode_image(..., max_side=)` produces for an image of this size."""
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(round(width * scale), 1), max(round(height * scale), 1)


@contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[Image.Image]:
    """The image, opened lazily (header only) and size-checked; failures as ImageRejected."""
    if not data:
        raise ImageRejected("the image is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageRejected(f"the image is larger than {MAX_BYTES // (1024 * 1024)} MB")
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns below its hard limit; treat the warning as a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            msg = f"not a supported image (accepted: {', '.join(ACCEPTED_FORMATS)})"
            raise ImageRejected(msg) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected("the image has too many pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageRejected(f"the image is corrupt or truncated ({error})") from None
        with image:
            _check_size(image.width, image.height, max_pixels)
            try:
                yield image
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise ImageRejected("the image has too many pixels") from None


def _downscaled(image: Image.Image, max_side: int) -> Image.Image:
    """The image with its longer side `max_side`, never decoded larger than needed for it."""
    target = scaled_size(image.width, image.height, max_side)
    if image.format == "JPEG":
        image.draft(image.mode if image.mode in ("RGB", "L") else None, target)
    image.load()
    if image.size != target:
        return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image


def load_image(path: Path | str, *, max_pixels: int = MAX_PIXELS) -> RGBImage:
    """Read and decode an image file, or raise `ImageRejected` (missing, unreadable, bad)."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise ImageRejected(f"{file.name}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = file.read_bytes()
    except OSError as error:
        raise ImageRejected(f"cannot read {file}: {error.strerror or error}") from None
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageRejected as error:
        raise ImageRejected(f"{file.name}: {error.message}") from None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageRejected(f"the image is too small ({width}×{height}, minimum {MIN_SIDE} px)")
    if width * height > max_pixels:
        msg = f"the image has too many pixels ({width}×{height}, limit {max_pixels:,})"
        raise ImageRejected(msg)


def _to_rgb(image: Image.Image) -> RGBImage:
    mode = image.mode
    if mode in _HIGH_BIT_MODES:
        return _high_bit_to_rgb(image)
    if "A" in mode or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    elif mode not in _DIRECT_MODES:
        raise ImageRejected(f"unsupported pixel format {mode}")
    array: RGBImage = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return array


def _high_bit_to_rgb(image: Image.Image) -> RGBImage:
    """16-bit grey: keep the top 8 bits (Pillow's own convert would clip everything to white)."""
    values = np.asarray(image).astype(np.uint32)
    grey = (np.minimum(values, 65535) >> 8).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
