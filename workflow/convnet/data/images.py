"""Decide whether a file is a usable image, and say why not.

The checks follow what keras.io and TensorFlow Datasets do for the PetImages archive (drop files
without a JFIF marker) plus a full decode, so that nothing that fails later in training survives.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import warnings
from contextlib import contextmanager

from PIL import Image, ImageOps, UnidentifiedImageError

# What keras.utils.image_dataset_from_directory reads (JPEG, PNG, BMP, GIF's first frame), plus WebP;
# suffixes in any case (.JPG from cameras).
_FORMAT_FOR_SUFFIX = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".webp": "WEBP",
}
IMAGE_SUFFIXES = tuple(_FORMAT_FOR_SUFFIX)
# Pixels decoded at full scale. Larger JPEGs decode at 1/2, 1/4 or 1/8 scale (the decoder's draft
# mode), so memory stays bounded for any accepted photo; larger PNGs are dropped. Kaggle's photos
# are at most 1023x768; a 40-megapixel camera is 7728x5152.
MAX_DECODED_PIXELS = 40_000_000
# Pillow's own guard (a warning, then an error at twice this) is replaced by the cap above.
Image.MAX_IMAGE_PIXELS = None
_OBJECT_ADDRESS = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


def has_image_suffix(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def to_rgb(image: Image.Image, exif_orientation: bool = True) -> Image.Image:
    """The image as a person sees it, in RGB: turned as its EXIF orientation tag says (phones
    store portrait shots sideways with a tag), transparent pixels on white, grayscale, palette and
    CMYK converted."""
    if exif_orientation:
        image = ImageOps.exif_transpose(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


class TooLarge(ValueError):
    """An image with more pixels than MAX_DECODED_PIXELS that cannot be decoded at a lower scale."""


@contextmanager
def open_bounded(fp, max_pixels: int | None = None):
    """Open an image (a path or file object) and decode it, at a reduced scale if it has more than
    ``max_pixels`` (default MAX_DECODED_PIXELS) pixels; JPEG only, others raise TooLarge. Yields the
    decoded PIL image."""
    max_pixels = MAX_DECODED_PIXELS if max_pixels is None else max_pixels
    with warnings.catch_warnings():
        # PIL warns (not raises) on some damaged EXIF blocks; those images decode fine.
        warnings.simplefilter("ignore")
        with Image.open(fp) as image:
            width, height = image.size
            if width * height > max_pixels:
                # JPEG decoders scale by 1/2, 1/4 or 1/8: the smallest power of two that fits
                scale = 2 ** math.ceil(math.log2(math.sqrt(width * height / max_pixels)))
                if image.format != "JPEG" or scale > 8:
                    raise TooLarge(f"{width}x{height} pixels, over the limit of {max_pixels:,}")
                image.draft("RGB", (math.ceil(width / scale), math.ceil(height / scale)))
            image.load()
            yield image


def reject_reason(name: str, data: bytes, require_jfif: bool = True) -> str | None:
    """Return why ``data`` (the bytes of file ``name``) is not a usable image, or None if it is."""
    suffix = posixpath.splitext(name)[1].lower()
    if suffix not in _FORMAT_FOR_SUFFIX:
        return "not an image file name"
    if not data:
        return "empty file"
    try:
        with open_bounded(io.BytesIO(data)) as image:
            detected = image.format
    except UnidentifiedImageError:
        return "not an image"
    except TooLarge as exc:
        return f"too large: {exc}"
    except Exception as exc:  # PIL raises many types for undecodable bytes
        message = _OBJECT_ADDRESS.sub("", str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        return f"not decodable: {message}"
    expected = _FORMAT_FOR_SUFFIX[suffix]
    if detected != expected and not (expected == "JPEG" and detected == "MPO"):
        # (MPO: a camera's JPEG with a second, stereo or depth, frame appended; Pillow reads frame 1)
        return f"{detected} data named {suffix}"
    if expected == "JPEG" and require_jfif and b"JFIF" not in data[:10]:
        return "no JFIF marker"
    return None
