"""Clean an image source and split it per class into train/validation/test folders, as the book does.

Layouts:
- ``kaggle``: the class is the file name's prefix (``train/cat.12.jpg``);
- ``folders``: the class is the parent folder (``PetImages/Cat/12.jpg``, or any ``<class>/<file>``).

Order is the book's by default: per class, by the number in the file name (cat.0-999 train,
1000-1499 validation, 1500-1999 test); ``shuffle`` draws a seeded permutation instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import random
import re
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .archive import ImageSource
from .config import SPLITS
from .errors import DataError
from .files import atomic_write_table, atomic_write_text
from .images import has_image_suffix, reject_reason

log = logging.getLogger(__name__)

_KAGGLE_NAME = re.compile(r"^([A-Za-z]+)\.(\d+)\.[A-Za-z]+$")
_BATCH = 256  # images decoded per batch: bounds memory on a 0.8 GB archive


@dataclass(frozen=True)
class Candidate:
    name: str  # path inside the source
    label: str  # output class folder, e.g. "cats"

    @property
    def basename(self) -> str:
        return posixpath.basename(self.name)

    @property
    def sort_key(self) -> tuple:
        """Book order: by the number in the file name, then by name."""
        stem = posixpath.splitext(self.basename)[0]
        number = stem.rsplit(".", 1)[-1]
        return (0, int(number), self.basename) if number.isdigit() else (1, 0, self.basename)


@dataclass
class SplitResult:
    manifest: list[dict] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name in source, reason)
    layout: str = ""


def detect_layout(names: list[str]) -> str:
    """``kaggle`` if most image names look like ``cat.12.jpg``, else ``folders``."""
    images = [posixpath.basename(n) for n in names if has_image_suffix(n)]
    if not images:
        raise DataError("no .jpg/.jpeg/.png files found in the data source; check data.url or data.path")
    kaggle_like = sum(bool(_KAGGLE_NAME.match(n)) for n in images)
    return "kaggle" if kaggle_like * 2 > len(images) else "folders"


def label_of(name: str, layout: str, aliases: dict[str, str]) -> str | None:
    """The output class of a source file, or None if it belongs to no configured class."""
    if layout == "kaggle":
        match = _KAGGLE_NAME.match(posixpath.basename(name))
        raw = match.group(1) if match else None
    else:
        parent = posixpath.dirname(name)
        raw = posixpath.basename(parent) if parent else None
    return aliases.get(raw.lower()) if raw else None


def class_aliases(classes: dict[str, str]) -> dict[str, str]:
    """Map every accepted spelling (lower case) to its output folder: ``cat``/``cats`` -> ``cats``."""
    aliases = {}
    for folder, raw in classes.items():
        for spelling in (folder, raw):
            aliases[spelling.lower()] = folder
    return aliases


def _inspect(source: ImageSource, candidates: list[Candidate], threads: int, require_jfif: bool):
    """Yield (candidate, reason-or-None); decoding runs in parallel across threads."""
    by_name = {c.name: c for c in candidates}
    names = list(by_name)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        batch: list[tuple[str, bytes]] = []

        def flush():
            reasons = pool.map(lambda item: reject_reason(item[0], item[1], require_jfif), batch)
            for (name, _), reason in zip(batch, reasons):
                yield by_name[name], reason

        for item in source.iter_bytes(names):
            batch.append(item)
            if len(batch) >= _BATCH:
                yield from flush()
                batch = []
        yield from flush()


@dataclass(frozen=True)
class Assignment:
    """Where one source file goes: its split and class folder, and its rank in the manifest."""

    rank: int
    split: str
    label: str
    basename: str

    @property
    def relative(self) -> str:
        return f"{self.split}/{self.label}/{self.basename}"


def label_candidates(
    members: list, layout: str, classes: dict[str, str], max_bytes: int
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """The files that belong to a configured class, and the others with the reason they are not
    used. Refuses two files that would land on the same output name."""
    aliases = class_aliases(classes)
    candidates, dropped = [], []
    for member in members:
        label = label_of(member.name, layout, aliases)
        if label is None:
            dropped.append((member.name, "not in a configured class (data.classes)"))
        elif member.size > max_bytes:
            dropped.append((member.name, f"too large: {member.size:,} bytes, over {max_bytes:,}"))
        else:
            candidates.append(Candidate(member.name, label))
    seen: dict[tuple[str, str], str] = {}
    for candidate in candidates:
        key = (candidate.label, candidate.basename)
        if key in seen:
            raise DataError(
                f"{seen[key]!r} and {candidate.name!r} would both become "
                f"{candidate.label}/{candidate.basename}; give the files unique names"
            )
        seen[key] = candidate.name
    return candidates, dropped


def assign(
    usable: dict[str, list[Candidate]], counts: dict[str, int], order: str = "book", seed: int = 0
) -> dict[str, Assignment]:
    """Which usable file goes to which split: per class, in book order (by the number in the file
    name) or a seeded shuffle, the first ``counts["train"]`` to train, then validation, then
    test. A pure function of its arguments. Raises DataError when a class has too few images."""
    needed = sum(counts[s] for s in SPLITS)
    assignment: dict[str, Assignment] = {}
    for class_rank, (label, items) in enumerate(usable.items()):
        if len(items) < needed:
            asked = "+".join(str(counts[s]) for s in SPLITS)
            raise DataError(
                f"class {label!r} has {len(items):,} usable images but data.split asks "
                f"for {needed:,} ({asked}); lower data.split.train/validation/test or use more data"
            )
        items = sorted(items, key=lambda c: c.sort_key)
        if order == "shuffle":
            # A per-class generator, so one class's size never changes another's draw.
            random.Random(f"{seed}:{label}").shuffle(items)
        start = 0
        for split_rank, split in enumerate(SPLITS):
            for position, candidate in enumerate(items[start : start + counts[split]]):
                rank = (split_rank * len(usable) + class_rank) * needed + position
                assignment[candidate.name] = Assignment(rank, split, label, candidate.basename)
            start += counts[split]
    return assignment


def write_split(source: ImageSource, out_dir: Path, assignment: dict[str, Assignment], classes) -> list[dict]:
    """Copy each assigned file's bytes, unchanged, to ``out_dir/{split}/{class}/``; return the
    manifest rows in rank order."""
    for split in SPLITS:
        for label in classes:
            (out_dir / split / label).mkdir(parents=True, exist_ok=True)
    ranked = []
    for name, data in source.iter_bytes(list(assignment)):
        target = assignment[name]
        (out_dir / target.relative).write_bytes(data)
        row = {
            "file": target.relative,
            "class": target.label,
            "split": target.split,
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": name,
        }
        ranked.append((target.rank, row))
    return [row for _, row in sorted(ranked, key=lambda item: item[0])]


def plan_and_write(
    source: ImageSource,
    out_dir: Path,
    classes: dict[str, str],
    counts: dict[str, int],
    *,
    layout: str = "auto",
    order: str = "book",
    seed: int = 0,
    require_jfif: bool = True,
    threads: int = 1,
) -> SplitResult:
    """Label, inspect and assign every file of ``source``, and write the split under ``out_dir``.
    Returns the manifest rows and the dropped files with their reasons."""
    members = source.members()
    result = SplitResult(layout=detect_layout([m.name for m in members]) if layout == "auto" else layout)
    try:
        candidates, result.dropped = label_candidates(
            members, result.layout, classes, source.limits.max_image_bytes
        )
    except DataError as exc:
        raise DataError(f"{source.label}: {exc}") from None
    usable: dict[str, list[Candidate]] = {label: [] for label in classes}
    for candidate, reason in _inspect(source, candidates, threads, require_jfif):
        if reason is None:
            usable[candidate.label].append(candidate)
        else:
            result.dropped.append((candidate.name, reason))
    result.dropped.sort()
    try:
        assignment = assign(usable, counts, order, seed)
    except DataError as exc:
        raise DataError(f"{source.label}: {exc}") from None
    result.manifest = write_split(source, out_dir, assignment, classes)
    return result


def write_manifest(path: Path, rows: list[dict]) -> None:
    header = ["file", "class", "split", "sha256", "source"]
    atomic_write_table(path, header, rows)


def write_dropped(path: Path, dropped: list[tuple[str, str]]) -> None:
    atomic_write_table(path, ["file", "reason"], dropped, delimiter="\t")


def provenance(
    source_config: dict, source_path: Path, digest: tuple[str, int] | None, result: SplitResult
) -> dict:
    """What the data came from and what became of it: enough to pin ``data.sha256`` next time."""
    info: dict = {
        "source": source_config.get("source"),
        "url": source_config.get("url") if source_config.get("source") == "url" else None,
        "kaggle_competition": (
            source_config.get("kaggle_competition") if source_config.get("source") == "kaggle" else None
        ),
        "path": str(source_path),
        "layout": result.layout,
        "order": source_config.get("order"),
    }
    if digest:
        info["sha256"], info["bytes"] = digest
    counts = Counter((row["split"], row["class"]) for row in result.manifest)
    info["images"] = {s: {c: n for (s2, c), n in sorted(counts.items()) if s2 == s} for s in SPLITS}
    info["dropped"] = len(result.dropped)
    info["dropped_by_reason"] = dict(sorted(Counter(_reason_kind(r) for _, r in result.dropped).items()))
    return info


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def write_provenance(path: Path, info: dict) -> None:
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def clear_outputs(out_dir: Path) -> None:
    """Remove split folders left by an earlier run, so no stale image survives a changed split."""
    for split in SPLITS:
        shutil.rmtree(out_dir / split, ignore_errors=True)
