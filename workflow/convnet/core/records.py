"""What a run leaves behind, in one place: the columns of its training history, the metrics of
its test evaluation, and how to read both back. Standard library only, so the tables, summaries
and ``benchmarks/results_tables.py`` run in the light environment (no Keras, no matplotlib)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from .errors import DataError
from .files import atomic_write_text

# results/history/{experiment}/seed{N}.csv, one row per epoch
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
# results/metrics/{experiment}/seed{N}.json holds these for each checkpoint of the run
CHECKPOINTS = ("last", "best")
# with test-time augmentation, "<checkpoint>_tta" beside each: the metrics of the mean probability of
# each image and its mirror (reported next to the checkpoint's own, never in their place)
TTA_SUFFIX = "_tta"
# precision and recall: of the second class with two classes, None with more (see macro_f1 and the
# per-class scores in the JSON); roc_auc: one-vs-rest, averaged over classes, with more
METRIC_NAMES = ["loss", "accuracy", "balanced_accuracy", "precision", "recall", "macro_f1", "roc_auc"]
# results/metrics/test_metrics.csv: a row per run and checkpoint
TABLE_COLUMNS = ["experiment", "seed", "checkpoint", "images", *METRIC_NAMES]
# results/metrics/{experiment}_summary.csv: a row per experiment and checkpoint
SUMMARY_STATISTICS = ["mean", "std", "min", "max"]
SUMMARY_COLUMNS = [
    "experiment",
    "checkpoint",
    "seeds",
    *(f"{metric}_{statistic}" for metric in METRIC_NAMES for statistic in SUMMARY_STATISTICS),
]


def prediction_columns(classes) -> list[str]:
    """results/metrics/{experiment}/seed{N}_predictions.csv: file, true label (class index), then per
    checkpoint the probability of the second class (two classes, as the book's sigmoid gives it) or
    of every class (``probability_last_<class>``, more classes)."""
    classes = list(classes)
    if len(classes) == 2:
        return ["file", "label", *(f"probability_{c}" for c in CHECKPOINTS)]
    return ["file", "label", *(f"probability_{c}_{name}" for c in CHECKPOINTS for name in classes)]


def read_predictions(path: str | os.PathLike, classes, checkpoint: str = "last") -> dict[str, tuple]:
    """{file: (label, [probability of each class])} of one checkpoint, from a predictions CSV."""
    classes = list(classes)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc}); rerun its evaluation") from None
    result = {}
    for row in rows:
        if len(classes) == 2:
            p = float(row[f"probability_{checkpoint}"])
            probabilities = [1 - p, p]
        else:
            probabilities = [float(row[f"probability_{checkpoint}_{name}"]) for name in classes]
        result[row["file"]] = (int(row["label"]), probabilities)
    return result


def read_history(path: str | os.PathLike) -> list[dict]:
    """The rows of a history CSV: ``epoch`` an int, every other column a float (NaN if empty)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc}); rerun its training") from None
    if not rows:
        raise DataError(f"{path} is empty: rerun its training")
    return [
        {k: int(v) if k == "epoch" else float(v) if v not in ("", None) else math.nan for k, v in row.items()}
        for row in rows
    ]


def best_epoch(history: list[dict]) -> int:
    """The epoch with the lowest validation loss (the one saved as ``_best.h5``)."""
    return int(min(history, key=lambda row: row["val_loss"])["epoch"])


def read_metrics(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable metrics file ({exc}); rerun its evaluation") from None


def write_heatmaps(path: str | os.PathLike, layer: str, heatmaps: dict[str, tuple[str, list]]) -> None:
    """A sheet's Grad-CAM heatmaps (convnet.learn.explain): ``{file: (class explained, heatmap as
    rows of values in [0, 1] at the feature map's resolution)}``, with the layer they come from.
    JSON, rounded to 3 decimals: small, readable, and the same bytes from the same model."""
    photos = {
        file: {"class": name, "heatmap": [[round(float(v), 3) for v in row] for row in grid]}
        for file, (name, grid) in heatmaps.items()
    }
    atomic_write_text(path, json.dumps({"layer": layer, "photos": photos}, indent=1) + "\n")


def read_heatmaps(path: str | os.PathLike) -> dict[str, tuple[str, list]]:
    """``{file: (class, heatmap rows)}`` of ``write_heatmaps``' file."""
    try:
        photos = json.loads(Path(path).read_text())["photos"]
        return {file: (entry["class"], entry["heatmap"]) for file, entry in photos.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a readable heatmaps file ({exc}); delete it and run again") from None
