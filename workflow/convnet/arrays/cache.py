"""Decode and resize every image once into a uint8 array file, so training reads pixels, not JPEGs.

A cache is an uncompressed ``.npz`` (what ``np.savez`` writes: ``images``, ``labels``, ``files``,
``classes``). It is written one chunk of images at a time and read back the same way: the images
stay on disk (:class:`CachedImages` reads the rows a batch asks for), so neither the cache step nor
training holds a whole split in memory, however many photos it has. Reads go through ``pread``
rather than a memory map, whose touched pages would count towards the job's resident memory.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import struct
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.errors import DataError
from ..core.files import atomic_path
from ..data.images import open_bounded, to_rgb

log = logging.getLogger(__name__)


class CachedImages:
    """The (n, height, width, 3) uint8 images of a cache file, read on demand: indexing with an
    integer, a slice or an array of indices returns those images as a numpy array, in that order."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...]):
        self.path, self.offset, self.shape = Path(path), offset, tuple(shape)
        self.dtype = np.dtype(np.uint8)
        self.ndim = len(self.shape)
        self.row_bytes = int(np.prod(self.shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.array([index])][0]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._rows(start, max(start, stop))
            index = np.arange(start, stop, step)
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"{self.path}: index out of range for {len(self)} images")
        out = np.empty((len(index), *self.shape[1:]), dtype=np.uint8)
        descriptor = self._descriptor()
        for row, i in enumerate(index % max(1, len(self))):
            self._read_into(descriptor, out[row : row + 1], int(i))
        return out

    def _rows(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.shape[1:]), dtype=np.uint8)
        self._read_into(self._descriptor(), out, start)
        return out

    def _descriptor(self) -> int:
        # one open file per process (a forked worker opens its own)
        if getattr(self, "_opened", None) != os.getpid():
            self._fd, self._opened = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def _read_into(self, descriptor: int, out: np.ndarray, start: int) -> None:
        """Fill ``out`` (consecutive rows) with the images from row ``start`` on, straight from
        the file into the array (a read may return less than asked: large ones do)."""
        view, done = memoryview(out).cast("B"), 0
        offset = self.offset + start * self.row_bytes
        while done < len(view):
            got = os.preadv(descriptor, [view[done:]], offset + done)
            if got == 0:
                raise DataError(f"{self.path}: the image cache is cut short; delete it and run again")
            done += got

    def __del__(self):
        if getattr(self, "_opened", None) == os.getpid():
            os.close(self._fd)

    def chunks(self, size: int):
        """The images in order, ``size`` at a time."""
        for start in range(0, len(self), size):
            yield self[start : start + size]

    def __array__(self, dtype=None, copy=None):
        # everything at once: for code that knowingly wants the whole split in memory
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


@dataclass
class ImageSet:
    images: np.ndarray | CachedImages  # (n, height, width, 3) uint8; a cache's stay on disk
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


def check_split_rows(data_dir: Path, manifest: Path, split: str, classes: list[str]) -> list[dict]:
    """The manifest's rows of ``split``, every class among ``classes`` and none without images."""
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
    return rows


def split_listing(data_dir: Path, manifest: Path, split: str, classes: list[str]):
    """(paths, labels as float32 class indices, files relative to ``data_dir``) of ``split``, in
    manifest order."""
    rows = check_split_rows(data_dir, manifest, split, classes)
    paths = [data_dir / row["file"] for row in rows]
    labels = np.array([classes.index(row["class"]) for row in rows], dtype=np.float32)
    return paths, labels, np.array([row["file"] for row in rows])


# Images decoded and written per piece of the cache step: bounds its memory (a 150x150 image is
# 66 kB, so 256 of them 17 MB), whatever the split's size.
CHUNK_IMAGES = 256


def decoded_chunks(
    paths: list[Path],
    size: tuple[int, int],
    threads: int,
    interpolation: str,
    exif_orientation: bool,
    chunk: int = CHUNK_IMAGES,
):
    """The images of ``paths`` decoded in order, ``chunk`` at a time, in parallel across ``threads``."""

    def one(path: Path) -> np.ndarray:
        try:
            return decode(path, size, interpolation, exif_orientation)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be decoded ({exc}); rerun the data step") from None

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for start in range(0, len(paths), chunk):
            yield np.stack(list(pool.map(one, paths[start : start + chunk])))


def write_image_cache(
    path: Path,
    data_dir: Path,
    manifest: Path,
    split: str,
    size: tuple[int, int],
    classes: list[str],
    threads: int = 1,
    interpolation: str = "bilinear",
    exif_orientation: bool = True,
) -> int:
    """Decode the images of one split, in manifest order, resized to ``size`` with
    ``interpolation``, into the cache ``path``, a chunk at a time; ``classes`` in label order (the
    split's, provenance.json). Returns the number of images."""
    paths, labels, files = split_listing(data_dir, manifest, split, classes)
    write_cache(
        path,
        (len(paths), size[0], size[1], 3),
        decoded_chunks(paths, size, threads, interpolation, exif_orientation),
        labels,
        files,
        classes,
    )
    log.info("%s: %d images decoded to %dx%d (%s)", split, len(paths), size[0], size[1], interpolation)
    return len(paths)


def write_cache(path: Path, shape: tuple[int, ...], image_chunks, labels, files, classes) -> None:
    """Write a cache as ``np.savez`` would (the same members and array bytes), taking the images a
    chunk at a time; atomically, so a killed job never leaves a cache that looks complete."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("images.npy", "w", force_zip64=True) as member:
                header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
                np.lib.format.write_array_header_1_0(member, header)
                written = 0
                for chunk in image_chunks:
                    chunk = np.ascontiguousarray(chunk, dtype=np.uint8)
                    member.write(chunk.data)
                    written += len(chunk)
                if written != shape[0]:
                    raise DataError(f"{path}: {written} images written where {shape[0]} were planned")
            for name, array in (("labels", labels), ("files", files), ("classes", np.array(classes))):
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def save_image_set(path: Path, image_set: ImageSet) -> None:
    """Write an image set held in memory as a cache."""
    images = image_set.images
    write_cache(
        path,
        images.shape,
        (images[start : start + CHUNK_IMAGES] for start in range(0, len(images), CHUNK_IMAGES)),
        image_set.labels,
        image_set.files,
        image_set.classes,
    )


def _images_member(path: Path, archive: zipfile.ZipFile) -> CachedImages:
    """Where the images' bytes start in the file, from the zip's local header and the .npy header
    (np.savez stores its members uncompressed)."""
    info = archive.getinfo("images.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError("images.npy is compressed")
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError("damaged zip header")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(handle)
        if dtype != np.uint8 or fortran_order or len(shape) != 4:
            raise ValueError(f"images are {dtype} of shape {shape}, not uint8 (n, height, width, 3)")
        offset = handle.tell()
    images = CachedImages(path, offset, shape)
    if offset + len(images) * images.row_bytes > path.stat().st_size:
        raise ValueError("the file is cut short")
    return images


def load_image_set(path: Path) -> ImageSet:
    """A cache with its labels, files and classes in memory and its images on disk."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            images = _images_member(path, archive)
        with np.load(path, allow_pickle=False) as data:
            return ImageSet(images, data["labels"], data["files"], tuple(data["classes"].tolist()))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
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
