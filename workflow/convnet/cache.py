"""Decode and resize every image once into uint8 arrays, so training reads memory, not JPEGs."""

from __future__ import annotations

import csv
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError
from .files import atomic_path
from .images import open_bounded, to_rgb

log = logging.getLogger(__name__)


@dataclass
class ImageSet:
    images: np.ndarray  # (n, height, width, 3) uint8
    labels: np.ndarray  # (n,) float32: the class index, 0 to k - 1
    files: np.ndarray  # (n,) str, relative to the data folder
    classes: tuple[str, ...]  # class folder of label 0, 1, ...

    def __len__(self) -> int:
        return len(self.labels)


# nearest: the book's Keras 2.0.8 load_img called Pillow's resize() without a filter, which was
# nearest neighbour until Pillow 7.0; bilinear: keras.utils.image_dataset_from_directory.
RESIZE_FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


def decode(
    path: Path, size: tuple[int, int], interpolation: str = "bilinear", exif_orientation: bool = True
) -> np.ndarray:
    """RGB uint8 of shape (height, width, 3), upright as its EXIF orientation says (unless
    ``exif_orientation`` is false), resized with ``interpolation`` (nearest or bilinear)."""
    height, width = size
    with open_bounded(path) as image:
        image = to_rgb(image, exif_orientation)
        if image.size != (width, height):
            image = image.resize((width, height), RESIZE_FILTERS[interpolation])
        return np.asarray(image, dtype=np.uint8)


def read_manifest(manifest: Path, split: str) -> list[dict]:
    with open(manifest, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == split]
    if not rows:
        raise DataError(f"{manifest}: no images in split {split!r}; rerun the data step (split_data)")
    return rows


def build_image_set(
    data_dir: Path,
    manifest: Path,
    split: str,
    size: tuple[int, int],
    classes: list[str],
    threads: int = 1,
    interpolation: str = "bilinear",
    exif_orientation: bool = True,
) -> ImageSet:
    """Decode the images of one split, in manifest order, in parallel across ``threads``, resized
    to ``size`` with ``interpolation``; ``classes`` in label order (the split's, provenance.json)."""
    rows = read_manifest(manifest, split)
    unknown = {row["class"] for row in rows} - set(classes)
    if unknown:
        raise DataError(
            f"{manifest}: classes {sorted(unknown)} are not among the split's classes {classes}; "
            "rerun the data step (split_data)"
        )
    for label in classes:
        if not any(row["class"] == label for row in rows):
            raise DataError(f"{data_dir / split / label}: no images; rerun the data step or fix data.classes")
    paths = [data_dir / row["file"] for row in rows]
    images = np.empty((len(rows), size[0], size[1], 3), dtype=np.uint8)

    def fill(index: int) -> None:
        try:
            images[index] = decode(paths[index], size, interpolation, exif_orientation)
        except (OSError, ValueError) as exc:
            raise DataError(f"{paths[index]}: cannot be decoded ({exc}); rerun the data step") from None

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(fill, range(len(rows))))
    labels = np.array([classes.index(row["class"]) for row in rows], dtype=np.float32)
    log.info("%s: %d images decoded to %dx%d (%s)", split, len(rows), size[0], size[1], interpolation)
    return ImageSet(images, labels, np.array([row["file"] for row in rows]), tuple(classes))


def save_image_set(path: Path, image_set: ImageSet) -> None:
    """Write atomically: a killed job never leaves a cache that looks complete."""
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            images=image_set.images,
            labels=image_set.labels,
            files=image_set.files,
            classes=np.array(image_set.classes),
        )


def load_image_set(path: Path) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as data:
            return ImageSet(data["images"], data["labels"], data["files"], tuple(data["classes"].tolist()))
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image cache ({exc}); delete it and run again") from None


def split_classes(provenance: Path) -> list[str]:
    """The classes of the split in label order, as the data step recorded them in provenance.json
    (``data.classes`` may be ``auto``: the folders found)."""
    try:
        classes = json.loads(Path(provenance).read_text())["classes"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{provenance}: records no classes ({exc}); rerun the data step (split_data)"
        ) from None
    return list(classes)
