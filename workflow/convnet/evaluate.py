"""Evaluate saved models on the test split; collect the per-run table and each experiment's mean
and spread over its seeds."""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path

import keras
import numpy as np

from .cache import load_image_set
from .errors import DataError
from .files import atomic_write_table, atomic_write_text
from .metrics import binary_metrics

log = logging.getLogger(__name__)

CHECKPOINTS = ("last", "best")
METRIC_NAMES = ["loss", "accuracy", "precision", "recall", "roc_auc"]
TABLE_COLUMNS = ["experiment", "seed", "checkpoint", "images", *METRIC_NAMES]
SUMMARY_STATISTICS = ["mean", "std", "min", "max"]
SUMMARY_COLUMNS = [
    "experiment",
    "checkpoint",
    "seeds",
    *(f"{metric}_{statistic}" for metric in METRIC_NAMES for statistic in SUMMARY_STATISTICS),
]


def predict(model_path: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{model_path}: cannot be loaded ({exc}); rerun its training") from None
    return model.predict(images, batch_size=batch_size, verbose=0).reshape(-1).astype(np.float64)


def evaluate_experiment(
    name: str,
    seed: int,
    models: dict[str, Path],
    test_cache: Path,
    metrics_json: Path,
    predictions_csv: Path,
    batch_size: int = 64,
) -> dict:
    """Metrics of each checkpoint (``last``, ``best``) on the test split, plus every prediction."""
    keras.config.set_dtype_policy("float32")
    test = load_image_set(test_cache)
    result = {
        "experiment": name,
        "seed": int(seed),
        "classes": list(test.classes),
        "positive_class": test.classes[1],
    }
    probabilities = {}
    for checkpoint in CHECKPOINTS:
        probabilities[checkpoint] = predict(models[checkpoint], test.images, batch_size)
        result[checkpoint] = binary_metrics(test.labels, probabilities[checkpoint])
        log.info(
            "%s seed %s %s: %s",
            name,
            seed,
            checkpoint,
            {k: v for k, v in result[checkpoint].items() if k != "confusion_matrix"},
        )
    atomic_write_text(metrics_json, json.dumps(result, indent=2) + "\n")
    atomic_write_table(
        predictions_csv,
        ["file", "label", *(f"probability_{c}" for c in CHECKPOINTS)],
        (
            [file, int(test.labels[i]), *(f"{probabilities[c][i]:.6f}" for c in CHECKPOINTS)]
            for i, file in enumerate(test.files)
        ),
    )
    return result


def _run_rows(metric_files: list[Path]) -> list[dict]:
    rows = []
    for path in metric_files:
        result = json.loads(Path(path).read_text())
        for checkpoint in CHECKPOINTS:
            values = result[checkpoint]
            rows.append(
                {
                    "experiment": result["experiment"],
                    "seed": result["seed"],
                    "checkpoint": checkpoint,
                    **{k: values[k] for k in TABLE_COLUMNS[3:]},
                }
            )
    return rows


def _formatted(rows: list[dict]) -> list[dict]:
    def text(value):
        if value is None:
            return ""
        return f"{value:.4f}" if isinstance(value, float) else value

    return [{k: text(v) for k, v in row.items()} for row in rows]


def metrics_table(metric_files: list[Path], out_csv: Path) -> list[dict]:
    """One row per experiment, seed and checkpoint: the table users compare."""
    rows = _run_rows(metric_files)
    atomic_write_table(out_csv, TABLE_COLUMNS, _formatted(rows))
    return rows


def summarise_runs(rows: list[dict]) -> list[dict]:
    """Per experiment and checkpoint: mean, sample standard deviation (empty for one seed), min and
    max of each metric over the seeds. A metric a run could not compute (AUC of a one-class test
    set) is left out of that metric's statistics."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["experiment"], row["checkpoint"]), []).append(row)
    summary = []
    for (experiment, checkpoint), members in groups.items():
        seeds = sorted(row["seed"] for row in members)
        if len(set(seeds)) != len(seeds):
            raise DataError(f"experiment {experiment} has seed(s) counted twice: {seeds}")
        result = {"experiment": experiment, "checkpoint": checkpoint, "seeds": " ".join(map(str, seeds))}
        for metric in METRIC_NAMES:
            values = [float(row[metric]) for row in members if row[metric] is not None]
            result[f"{metric}_mean"] = statistics.fmean(values) if values else None
            result[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else None
            result[f"{metric}_min"] = min(values) if values else None
            result[f"{metric}_max"] = max(values) if values else None
        summary.append(result)
    return summary


def summary_table(metric_files: list[Path], out_csv: Path) -> list[dict]:
    """Mean and spread over the seeds, one row per experiment and checkpoint."""
    summary = summarise_runs(_run_rows(metric_files))
    atomic_write_table(out_csv, SUMMARY_COLUMNS, _formatted(summary))
    return summary
