"""The tables users compare: every run's test metrics, and each experiment's mean and spread over
its seeds. JSON in, CSV out; standard library only."""

from __future__ import annotations

import statistics
from pathlib import Path

from .errors import DataError
from .files import atomic_write_table
from .records import CHECKPOINTS, METRIC_NAMES, SUMMARY_COLUMNS, TABLE_COLUMNS, TTA_SUFFIX, read_metrics


def run_rows(metric_files: list[Path]) -> list[dict]:
    """One row per run and checkpoint, from the runs' metrics JSON files."""
    rows = []
    for path in metric_files:
        result = read_metrics(path)
        # each checkpoint, and beside it its test-time-augmented metrics where the run has them
        for checkpoint in (c + suffix for c in CHECKPOINTS for suffix in ("", TTA_SUFFIX)):
            if checkpoint not in result:
                continue
            values = result[checkpoint]
            rows.append(
                {
                    "experiment": result["experiment"],
                    "seed": result["seed"],
                    "checkpoint": checkpoint,
                    # (metrics files from before a metric existed leave it empty)
                    **{k: values.get(k) for k in TABLE_COLUMNS[3:]},
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
    rows = run_rows(metric_files)
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
    summary = summarise_runs(run_rows(metric_files))
    atomic_write_table(out_csv, SUMMARY_COLUMNS, _formatted(summary))
    return summary
