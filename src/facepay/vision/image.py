"""Safe decoding of untrusted image bytes into RGB uint8 arrays.

Every failure is an `ImageRejected` with a plain message, never a Pillow or NumPy exception.
The pixel count is checked from the header, before any pixel is decoded, so a 20000×20000 "image
bomb" of a few kilobytes is refused without allocating it. Only the formats a camera or phone
produces are parsed (fewer parsers, less attack surface). EXIF orientation is applied, alpha is
composited onto white (the usual ID-photo background), CMYK and 16-bit inputs are converted.
"""

from __future__ import annotations

import io
import warnings
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


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> RGBImage:
    """Decode image bytes to an H×W×3 uint8 RGB array, or raise `ImageRejected`."""
    if not data:
        raise ImageRejected("the image is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageRejected(f"the image is larger than {MAX_BYTES // (1024 * 1024)} MB")
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns below its hard limit; treat the warning as a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                _check_size(image.width, image.height, max_pixels)
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
        except ImageRejected:
            raise
        except UnidentifiedImageError:
            msg = f"not a supported image (accepted: {', '.join(ACCEPTED_FORMATS)})"
            raise ImageRejected(msg) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected("the image has too many pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageRejected(f"the image is corrupt or truncated ({error})") from None


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
