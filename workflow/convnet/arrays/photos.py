"""New photos read as the data step reads images (safe extraction, a full decode) and resized as a
run's training data were: what predictions and their contact sheets classify and draw."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.archive import open_image_source
from .cache import decode
from ..core.errors import DataError
from ..data.images import reject_reason


# how many photos a prediction contact sheet shows, in file order
SHEET_LIMIT = 48


@dataclass
class Photo:
    file: str  # path inside the folder or archive
    image: np.ndarray | None  # (height, width, 3) uint8, None if unreadable
    reason: str = ""  # why it could not be read


def read_photos(source: Path, size: tuple[int, int], interpolation: str) -> list[Photo]:
    """Every file of a folder or zip/tar archive, checked as the data step checks (safe extraction,
    a full decode; JPEGs without a JFIF marker are fine here: cameras write Exif), turned upright
    by their EXIF orientation and resized."""
    photos = []
    with open_image_source(source) as images:
        for member in images.members():
            try:
                data = images.read(member.name)
            except DataError as exc:
                photos.append(Photo(member.name, None, str(exc).split(": ", 1)[-1]))
                continue
            reason = reject_reason(member.name, data, require_jfif=False)
            if reason is None:
                try:
                    photos.append(Photo(member.name, decode(io.BytesIO(data), size, interpolation)))
                    continue
                except (OSError, ValueError) as exc:
                    reason = f"not decodable: {exc}"
            photos.append(Photo(member.name, None, reason))
    return photos


def sheet_photos(photos: list[Photo], limit: int = SHEET_LIMIT) -> list[Photo]:
    """The photos a contact sheet shows: the first ``limit`` readable ones, in file order."""
    return [photo for photo in photos if photo.image is not None][:limit]
