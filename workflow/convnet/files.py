"""Small file helpers shared by every step: hashing and atomic writes."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20


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
    finally:
        if not committed and not keep_on_error:
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
