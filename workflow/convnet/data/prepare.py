"""The data step as one call: verify, extract safely, drop corrupt images, split, record provenance."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from .archive import open_image_source
from ..core.errors import DataError
from ..core.files import disk_full_names, sha256_of_file
from ..core.config import SPLITS
from .split import (
    clear_outputs,
    plan_and_write,
    provenance,
    write_dropped,
    write_manifest,
    write_provenance,
)

log = logging.getLogger(__name__)


def prepare_dataset(source_path: Path, out_dir: Path, data: dict, threads: int = 1) -> dict:
    """Write ``out_dir/{train,validation,test}/{class}/``, ``manifest.csv``, ``dropped.tsv`` and
    ``provenance.json`` from ``source_path`` (archive or folder), as the ``data`` config asks.

    The manifest is written last, so its presence means the split is complete."""
    out_dir = Path(out_dir)
    digest = sha256_of_file(source_path) if Path(source_path).is_file() else None
    pinned = data.get("sha256")
    if pinned and digest and digest[0] != pinned.lower():
        raise DataError(
            f"{source_path}: sha256 is {digest[0]}, but data.sha256 pins {pinned}; "
            "fix data.sha256 or data.path"
        )
    clear_outputs(out_dir)
    with open_image_source(source_path) as source, disk_full_names(out_dir):
        log.info("reading %s", source.label)
        result = plan_and_write(
            source,
            out_dir,
            data["classes"],
            data["split"],
            layout=data["layout"],
            order=data["order"],
            seed=data["seed"],
            require_jfif=data["require_jfif"],
            threads=threads,
        )
    info = provenance(data, Path(source_path), digest, result)
    log.info("layout: %s; source sha256 %s", result.layout, info.get("sha256", "(a folder)"))
    for reason, count in Counter(r for _, r in result.dropped).most_common():
        log.info("dropped %d: %s", count, reason)
    log.info(
        "dropped %d files, %d usable ones not selected (all listed in %s)",
        len(result.dropped),
        len(result.not_selected),
        out_dir / "dropped.tsv",
    )
    log.info("classes, in label order: %s", ", ".join(result.classes))
    for split in SPLITS:
        log.info("%s: %s", split, ", ".join(f"{n} {c}" for c, n in info["images"][split].items()))
    write_dropped(out_dir / "dropped.tsv", result.unused())
    write_provenance(out_dir / "provenance.json", info)
    write_manifest(out_dir / "manifest.csv", result.manifest)
    return info
