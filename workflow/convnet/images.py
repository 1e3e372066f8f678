"""Decide whether a file is a usable image, and say why not.

The checks follow what keras.io and TensorFlow Datasets do for the PetImages archive (drop files
without a JFIF marker) plus a full decode, so that nothing that fails later in training survives.
"""

from __future__ import annotations

import io
import posixpath
import warnings

from PIL import Image

JPEG_SUFFIXES = (".jpg", ".jpeg")
IMAGE_SUFFIXES = JPEG_SUFFIXES + (".png",)
_FORMAT_FOR_SUFFIX = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def has_image_suffix(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def reject_reason(name: str, data: bytes, require_jfif: bool = True) -> str | None:
    """Return why ``data`` (the bytes of file ``name``) is not a usable image, or None if it is."""
    suffix = posixpath.splitext(name)[1].lower()
    if suffix not in _FORMAT_FOR_SUFFIX:
        return "not an image file name"
    if not data:
        return "empty file"
    try:
        with warnings.catch_warnings():
            # PIL warns (not raises) on some damaged EXIF blocks; those images decode fine.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                detected = image.format
                image.load()
    except Exception as exc:  # PIL raises many types for undecodable bytes
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"not decodable: {message}"
    expected = _FORMAT_FOR_SUFFIX[suffix]
    if detected != expected:
        return f"{detected} data named {suffix}"
    if expected == "JPEG" and require_jfif and b"JFIF" not in data[:10]:
        return "no JFIF marker"
    return None
