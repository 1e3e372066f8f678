"""Small file helpers shared by every step: hashing and atomic writes."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import DiskFullError

CHUNK = 1 << 20
# a full disk, or a full quota (clusters' home and project folders)
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "errno = 28")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or the quota is full; libraries such as
    h5py and TensorFlow wrap the OSError in their own errors, with its text."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        if any(text in str(exc) for text in DISK_FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def sha256_of_file(path: str | os.PathLike) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@contextmanager
def disk_full_names(folder: str | os.PathLike):
    """A full disk while the block writes into ``folder`` becomes DiskFullError naming it."""
    try:
        yield
    except Exception as exc:
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise DiskFullError(folder) from None
        raise


@contextmanager
def atomic_path(path: str | os.PathLike, temporary: str | os.PathLike | None = None, keep_on_error=False):
    """Yield a temporary path beside ``path`` to write to; when the block ends without an error,
    rename it to ``path`` (atomic within a file system), else remove it. A killed job therefore
    never leaves a partial file under the real name. The temporary name (``.tmp.<name>``) keeps
    the name's end, for writers that choose the format by it (``.weights.h5``, ``.npz``, ``.png``). Every writer of the
    workflow goes through here; the download names its own ``temporary`` (``.part``) and keeps
    it on an error, to resume from it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temporary) if temporary else path.with_name(f".tmp.{path.name}")
    committed = False
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: nothing was written for {path}")
        os.replace(tmp, path)
        committed = True
    except Exception as exc:
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise DiskFullError(path.parent) from None
        raise
    finally:
        if not committed and not keep_on_error:
            if tmp.is_dir():  # a writer of folders (a SavedModel)
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def atomic_write_table(path: str | os.PathLike, header: list[str], rows, delimiter: str = ",") -> None:
    """Write a CSV (or, with ``delimiter="\\t"``, TSV) atomically; rows are sequences or dicts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[key] for key in header] if isinstance(row, dict) else row)
    atomic_write_text(path, buffer.getvalue())
