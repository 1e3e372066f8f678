"""Small file helpers shared by every step: hashing and atomic writes."""

from __future__ import annotations

import csv
import hashlib
import io
import os
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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write through a temporary file and rename, so a killed job never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def atomic_write_table(path: str | os.PathLike, header: list[str], rows, delimiter: str = ",") -> None:
    """Write a CSV (or, with ``delimiter="\\t"``, TSV) atomically; rows are sequences or dicts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[key] for key in header] if isinstance(row, dict) else row)
    atomic_write_text(path, buffer.getvalue())
