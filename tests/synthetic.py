"""Small synthetic image archives for tests, in Kaggle's and PetImages' layouts, with planted faults."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg_bytes(seed: int, size: int = 32, kind: str = "cat", exif_only: bool = False) -> bytes:
    """A small JPEG whose content depends on the class, so a model can learn it."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    if kind == "cat":
        pixels[:, : size // 2, 0] += 150  # reddish left half
    else:
        pixels[: size // 2, :, 2] += 150  # bluish top half
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if exif_only:
        exif = Image.Exif()
        exif[0x010F] = "camera"
        image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
        data = buffer.getvalue()
        # Strip the JFIF APP0 segment so that the file starts SOI + APP1 (Exif), like many camera JPEGs.
        if data[2:4] == b"\xff\xe0":
            length = int.from_bytes(data[4:6], "big")
            data = data[:2] + data[4 + length :]
        return data
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), seed % 255, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


FAULTS = {
    # name in the archive (relative to the class) -> reason substring expected in dropped.tsv
    "zero": "empty file",
    "truncated": "not decodable",
    "png": "PNG data named .jpg",
    "exif": "no JFIF marker",
    "junk": "not an image",
}


def image_files(layout: str, per_class: int, faults: bool = True, size: int = 32) -> dict[str, bytes]:
    """{path in archive: bytes}; ids 0..per_class-1 are good, faults get ids after them."""
    files: dict[str, bytes] = {}
    for kind, folder in (("cat", "Cat"), ("dog", "Dog")):

        def path(i):
            return f"train/{kind}.{i}.jpg" if layout == "kaggle" else f"PetImages/{folder}/{i}.jpg"

        for i in range(per_class):
            files[path(i)] = jpeg_bytes(i * 2 + (kind == "dog"), size, kind)
        if faults:
            good = jpeg_bytes(999, size, kind)
            n = per_class
            files[path(n)] = b""
            files[path(n + 1)] = good[: len(good) // 2]
            files[path(n + 2)] = png_bytes(n)
            files[path(n + 3)] = jpeg_bytes(n + 3, size, kind, exif_only=True)
            files[path(n + 4)] = b"<html><body>Please log in</body></html>"  # a web page named .jpg
            if layout == "folders":
                files[f"PetImages/{folder}/Thumbs.db"] = b"\x00" * 64
    if layout == "folders" and faults:
        files["readme[1].txt"] = b"a readme at the top"
    return files


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _add_to_tar(tf: tarfile.TarFile, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        _add_to_tar(tf, files)
    return path


def zip_with_symlink(path: Path, files: dict[str, bytes]) -> Path:
    write_zip(path, files)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("train/cat.link.jpg")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


def zip_with_traversal(path: Path, files: dict[str, bytes]) -> Path:
    write_zip(path, files)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("../../evil.jpg", jpeg_bytes(1))
    return path


def tar_with_symlink(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tf:
        _add_to_tar(tf, files)
        link = tarfile.TarInfo("train/cat.link.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    return path


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/cat.0.jpg", b"\x00" * (8 << 20))  # 8 MiB of zeros -> ~1000:1
    return path


def tar_bomb(path: Path, entries: int = 3, size: int = 8 << 20) -> Path:
    """A .tar.gz of a few entries of zeros: each compresses ~1000:1, as in zip_bomb."""
    with tarfile.open(path, "w:gz") as tf:
        _add_to_tar(tf, {f"train/cat.{i}.jpg": b"\x00" * size for i in range(entries)})
    return path


def damaged_zip_entry(path: Path, files: dict[str, bytes]) -> Path:
    """A zip whose central directory is fine but one entry's compressed bytes are garbage."""
    write_zip(path, files)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train/cat.1.jpg")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + info.compress_size] = bytes(range(256)) * (info.compress_size // 256) + bytes(
        info.compress_size % 256
    )
    path.write_bytes(bytes(data))
    return path


def kaggle_competition_zip(path: Path, files: dict[str, bytes]) -> Path:
    """Kaggle's competition download: train.zip and test1.zip inside one zip."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("train.zip", inner.getvalue())
        zf.writestr("test1.zip", b"PK\x05\x06" + b"\x00" * 18)
        zf.writestr("sampleSubmission.csv", "id,label\n")
    return path


# One hue per class for the k-class tests: easy to learn in a few epochs.
CLASS_COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200), (40, 200, 200)]


def class_image(seed: int, index: int, size: int = 32) -> np.ndarray:
    """RGB pixels of class ``index``: its colour plus noise."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 50, (size, size, 3)).astype(np.int16) + np.array(CLASS_COLOURS[index], np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, format: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format, **options)
    return buffer.getvalue()


def class_folders(counts: dict[str, int], root: str = "photos", size: int = 32) -> dict[str, bytes]:
    """{root/<class>/<class>_<i>.jpg: bytes}: the folder layout with unequal classes."""
    files = {}
    for index, (name, count) in enumerate(counts.items()):
        for i in range(count):
            files[f"{root}/{name}/{name}_{i}.jpg"] = encode(
                class_image(index * 1000 + i, index, size), quality=92
            )
    return files


def camera_jpeg(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    """A JPEG as a phone writes it: an Exif APP1 segment first, no JFIF APP0 marker, and (for
    portrait shots) an orientation tag saying how to turn the stored pixels upright."""
    exif = Image.Exif()
    exif[0x010F] = "phone"
    if orientation is not None:
        exif[0x0112] = orientation
    data = encode(pixels, quality=92, exif=exif.tobytes())
    if data[2:4] == b"\xff\xe0":  # drop the JFIF APP0 segment Pillow writes
        length = int.from_bytes(data[4:6], "big")
        data = data[:2] + data[4 + length :]
    assert b"JFIF" not in data[:10] and data[2:4] == b"\xff\xe1"
    return data
