"""What a run leaves behind, in one place: the columns of its training history, the metrics of
its test evaluation, and how to read both back. Standard library only, so the tables, summaries
and ``convnet.results`` run in the light environment (no Keras, no matplotlib)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from .errors import DataError

# results/history/{experiment}/seed{N}.csv, one row per epoch
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
# results/metrics/{experiment}/seed{N}.json holds these for each checkpoint of the run
CHECKPOINTS = ("last", "best")
METRIC_NAMES = ["loss", "accuracy", "precision", "recall", "roc_auc"]
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
