"""Clean an image source and split it per class into train/validation/test folders, as the book does.

Layouts:
- ``kaggle``: the class is the file name's prefix (``train/cat.12.jpg``);
- ``folders``: the class is the parent folder (``PetImages/Cat/12.jpg``, or any ``<class>/<file>``).

Classes: a mapping (output folder: name in the source, the book's ``cats: cat``), a list of names,
or ``auto`` (every class folder or prefix found, sorted). ``data.split`` gives per class either
image counts (the book's 1000/500/500) or fractions of each class (stratified, unequal classes
kept unequal). Order is the book's by default: per class, by the number in the file name
(cat.0-999 train, 1000-1499 validation, 1500-1999 test); ``shuffle`` draws a seeded permutation
instead. Every file not used is listed with its reason: dropped (and why) or not selected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import posixpath
import random
import re
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .archive import ImageSource
from ..core.config import SPLITS
from ..core.errors import DataError
from ..core.files import atomic_write_table, atomic_write_text
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


NOT_SELECTED = "not selected: beyond data.split's images for its class"
# What keeps a dropped file, by the reason it was dropped (the start of the reason text).
KEEP_HINTS = {
    "no JFIF marker": "set data.require_jfif: false to keep JPEGs without a JFIF marker (camera and phone photos)",
    "not in a configured class": "list the class in data.classes, or set data.classes: auto",
    "not in a class folder": "put each class's photos in a folder named after the class",
    "not an image file name": "only .jpg, .jpeg, .png, .bmp, .gif and .webp files are read",
    "too large": "downscale the photos",
}


@dataclass
class SplitResult:
    manifest: list[dict] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name in source, reason)
    not_selected: list[str] = field(default_factory=list)  # usable, but beyond data.split's counts
    layout: str = ""
    classes: list[str] = field(default_factory=list)  # output class folders, in label order

    def unused(self) -> list[tuple[str, str]]:
        """Every file of the source that is not in the split, with the reason, by name."""
        return sorted(self.dropped + [(name, NOT_SELECTED) for name in self.not_selected])


def detect_layout(names: list[str]) -> str:
    """``kaggle`` if most image names look like ``cat.12.jpg``, else ``folders``."""
    images = [posixpath.basename(n) for n in names if has_image_suffix(n)]
    if not images:
        raise DataError(
            "no .jpg/.jpeg/.png/.bmp/.gif/.webp files found in the data source; check data.url or data.path"
        )
    kaggle_like = sum(bool(_KAGGLE_NAME.match(n)) for n in images)
    return "kaggle" if kaggle_like * 2 > len(images) else "folders"


def raw_class(name: str, layout: str) -> str | None:
    """The class a source file names: its prefix (``kaggle``) or its folder (``folders``); None
    for a file outside any class, or hidden (``.DS_Store``, ``._cat.jpg``, ``__MACOSX/``)."""
    parts = name.split("/")
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return None
    if layout == "kaggle":
        match = _KAGGLE_NAME.match(parts[-1])
        return match.group(1) if match else None
    return parts[-2] if len(parts) > 1 else None


def label_of(name: str, layout: str, aliases: dict[str, str]) -> str | None:
    """The output class of a source file, or None if it belongs to no configured class."""
    raw = raw_class(name, layout)
    return aliases.get(raw.lower()) if raw else None


def resolve_classes(spec, names: list[str], layout: str) -> dict[str, str]:
    """``data.classes`` as {output class folder: name in the source}, in label order: a mapping
    as given, a list as {name: name}, ``auto`` as every class the image files name, sorted (as
    keras.utils.image_dataset_from_directory sorts its class folders)."""
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, (list, tuple)):
        return {name: name for name in spec}
    found: dict[str, set[str]] = {}
    for name in names:
        raw = raw_class(name, layout) if has_image_suffix(name) else None
        if raw:
            found.setdefault(raw.lower(), set()).add(raw)
    clashes = sorted(sorted(spellings) for spellings in found.values() if len(spellings) > 1)
    if clashes:
        raise DataError(
            f"data.classes is auto, but the class folders {clashes[0]} differ only in upper and lower case: "
            "rename one, or list the classes in data.classes"
        )
    classes = sorted(next(iter(spellings)) for spellings in found.values())
    if len(classes) < 2:
        where = "class folders (<class>/<photo>)" if layout == "folders" else "class prefixes (cat.1.jpg)"
        raise DataError(
            f"data.classes is auto, but the images are in {len(classes)} {where}: {classes}; a classifier "
            "needs at least 2 (check data.path and data.layout)"
        )
    return {name: name for name in classes}


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

    rank: tuple[int, int, int]  # (split, class, position): the manifest's order
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
            reason = (
                "not in a class folder"
                if raw_class(member.name, layout) is None and has_image_suffix(member.name)
                else "not in a configured class (data.classes)"
            )
            dropped.append((member.name, reason))
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


def split_sizes(available: int, split: dict) -> dict[str, int]:
    """How many of a class's ``available`` usable images go to each split: ``split``'s counts as
    they are, or its fractions of ``available`` (cumulative rounding, so the sizes add up to the
    rounded total and each class keeps its proportions)."""
    if all(float(split[s]) >= 1 for s in SPLITS):
        return {s: int(split[s]) for s in SPLITS}
    sizes, done, total = {}, 0, 0.0
    for name in SPLITS:
        total += float(split[name])
        boundary = math.floor(available * total + 0.5)
        sizes[name], done = boundary - done, boundary
    return sizes


def _too_few(label: str, available: int, sizes: dict[str, int], split: dict, drops: Counter | None) -> str:
    counts = all(float(split[s]) >= 1 for s in SPLITS)
    if counts:
        asked = sum(sizes.values())
        text = (
            f"class {label!r} has {available:,} usable images but data.split asks for {asked:,} "
            f"({'+'.join(str(sizes[s]) for s in SPLITS)})"
        )
        fix = "lower data.split.train/validation/test, give fractions (e.g. {train: 0.7, validation: 0.15, test: 0.15}) or use more data"
    else:
        empty = [s for s in SPLITS if sizes[s] == 0]
        text = (
            f"class {label!r} has {available:,} usable images, too few for data.split's fractions: "
            f"{' and '.join(empty)} would get none"
        )
        fix = "give the class more photos or raise those fractions"
    if drops:
        listed = ", ".join(f"{reason}: {count:,}" for reason, count in drops.most_common())
        text += f"; {sum(drops.values()):,} of its files were dropped ({listed})"
        hints = [KEEP_HINTS[r] for r, _ in drops.most_common() if r in KEEP_HINTS]
        if hints:
            fix = hints[0]
    return f"{text}: {fix}"


def assign(
    usable: dict[str, list[Candidate]],
    split: dict,
    order: str = "book",
    seed: int = 0,
    drops: dict[str, Counter] | None = None,
) -> dict[str, Assignment]:
    """Which usable file goes to which split: per class, in book order (by the number in the file
    name) or a seeded shuffle, the first ``split`` sizes (``split_sizes``) to train, then
    validation, then test. A pure function of its arguments. Raises DataError when a class has too
    few images, counting the class's ``drops`` by reason and naming the setting that keeps them."""
    assignment: dict[str, Assignment] = {}
    for class_rank, (label, items) in enumerate(usable.items()):
        sizes = split_sizes(len(items), split)
        if len(items) < sum(sizes.values()) or min(sizes.values()) < 1:
            raise DataError(_too_few(label, len(items), sizes, split, (drops or {}).get(label)))
        items = sorted(items, key=lambda c: c.sort_key)
        if order == "shuffle":
            # A per-class generator, so one class's size never changes another's draw.
            random.Random(f"{seed}:{label}").shuffle(items)
        start = 0
        for split_rank, name in enumerate(SPLITS):
            for position, candidate in enumerate(items[start : start + sizes[name]]):
                # manifest order: by split, then class, then position
                rank = (split_rank, class_rank, position)
                assignment[candidate.name] = Assignment(rank, name, label, candidate.basename)
            start += sizes[name]
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
    classes,
    split: dict,
    *,
    layout: str = "auto",
    order: str = "book",
    seed: int = 0,
    require_jfif: bool = True,
    threads: int = 1,
) -> SplitResult:
    """Label, inspect and assign every file of ``source``, and write the split under ``out_dir``.
    ``classes``: ``data.classes`` (a mapping, a list or ``auto``). Returns the manifest rows, the
    classes, the dropped files with their reasons and the usable files not selected."""
    members = source.members()
    names = [m.name for m in members]
    result = SplitResult(layout=detect_layout(names) if layout == "auto" else layout)
    try:
        classes = resolve_classes(classes, names, result.layout)
        check_class_names(classes)
        candidates, result.dropped = label_candidates(
            members, result.layout, classes, source.limits.max_image_bytes
        )
    except DataError as exc:
        raise DataError(f"{source.label}: {exc}") from None
    result.classes = list(classes)
    usable: dict[str, list[Candidate]] = {label: [] for label in classes}
    drops: dict[str, Counter] = {label: Counter() for label in classes}
    for candidate, reason in _inspect(source, candidates, threads, require_jfif):
        if reason is None:
            usable[candidate.label].append(candidate)
        else:
            result.dropped.append((candidate.name, reason))
            drops[candidate.label][_reason_kind(reason)] += 1
    result.dropped.sort()
    for label in classes:
        dropped = ", ".join(f"{r} {n}" for r, n in drops[label].most_common()) or "none"
        log.info("class %s: %d usable images; dropped: %s", label, len(usable[label]), dropped)
    try:
        assignment = assign(usable, split, order, seed, drops)
    except DataError as exc:
        raise DataError(f"{source.label}: {exc}") from None
    result.not_selected = sorted(
        c.name for items in usable.values() for c in items if c.name not in assignment
    )
    result.manifest = write_split(source, out_dir, assignment, classes)
    return result


def check_class_names(classes: dict[str, str]) -> None:
    """Output class folders must be usable as folder names (config.check_data_config refuses two
    that differ only in case; resolve_classes does for auto)."""
    for name in classes:
        if not name or name in (".", "..") or "/" in name or "\\" in name or not name.isprintable():
            raise DataError(f"class name {name!r} cannot be a folder name: rename it (data.classes)")


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
    info["classes"] = result.classes  # label order: label 0 first
    info["images"] = {s: {c: n for (s2, c), n in sorted(counts.items()) if s2 == s} for s in SPLITS}
    info["not_selected"] = len(result.not_selected)
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
