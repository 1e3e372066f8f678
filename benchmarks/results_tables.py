"""Markdown tables of a finished run, for docs/results.md or a lab notebook: the test metrics over
seeds, each run's curves in numbers, and the wall time of every benchmarked job.

    .venv/bin/python benchmarks/results_tables.py [--results results]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from convnet.core.errors import DataError  # noqa: E402
from convnet.core.records import METRIC_NAMES, best_epoch, read_history, read_metrics  # noqa: E402
from convnet.core.runcard import RunCard  # noqa: E402

# the summary's metrics as the docs' tables show them: accuracy first
SUMMARY_METRICS = sorted(METRIC_NAMES, key=lambda metric: metric != "accuracy")


def read_csv(path: Path, delimiter: str = ",") -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_and_spread(row: dict, metric: str) -> str:
    """``0.712 +- 0.011 (0.700-0.724)``; a single seed has no spread to show."""
    mean = row.get(f"{metric}_mean", "")
    if mean == "":
        return "n/a"
    text = f"{float(mean):.3f}"
    if row[f"{metric}_std"] != "":
        low, high = float(row[f"{metric}_min"]), float(row[f"{metric}_max"])
        text += f" +- {float(row[f'{metric}_std']):.3f} ({low:.3f}-{high:.3f})"
    return text


def summary_section(results: Path) -> str:
    files = sorted((results / "metrics").glob("*_summary.csv"))
    if not files:
        raise DataError(f"no {results}/metrics/*_summary.csv: run the workflow first")
    rows = []
    for path in files:
        for row in read_csv(path):
            seeds = row["seeds"].split()
            rows.append(
                [row["experiment"], row["checkpoint"], len(seeds)]
                + [mean_and_spread(row, metric) for metric in SUMMARY_METRICS]
            )
    header = ["experiment", "checkpoint", "seeds", *SUMMARY_METRICS]
    return markdown_table(header, rows)


def per_class_rows(results: Path, checkpoint: str = "last") -> list[list]:
    """Per experiment and class: precision, recall and F1 of the ``checkpoint`` model on the test
    set, the mean over the experiment's seeds, and the class's test images."""
    runs: dict[str, list[dict]] = {}
    for path in sorted((results / "metrics").glob("*/seed*.json")):
        metrics = read_metrics(path)
        if "per_class" in metrics.get(checkpoint, {}):
            runs.setdefault(metrics["experiment"], []).append(metrics[checkpoint]["per_class"])
    rows = []
    for experiment, per_seed in runs.items():
        for name in per_seed[0]:
            scores = [seed[name] for seed in per_seed]

            def mean(key, scores=scores):
                return f"{sum(s[key] for s in scores) / len(scores):.3f}"

            rows.append(
                [
                    experiment,
                    name,
                    len(scores),
                    mean("precision"),
                    mean("recall"),
                    mean("f1"),
                    scores[0]["support"],
                ]
            )
    return rows


def per_class_section(results: Path) -> str:
    header = ["experiment", "class", "seeds", "precision", "recall", "F1", "test images"]
    return markdown_table(header, per_class_rows(results))


def history_rows(results: Path) -> list[list]:
    """Per run: epochs, last-epoch validation accuracy, the epoch of the lowest validation loss
    (where overfitting starts) and its value, and the train-validation accuracy gap at the end."""
    rows = []
    for path in sorted((results / "history").glob("*/seed*.csv")):
        history = read_history(path)
        last = history[-1]
        rows.append(
            [
                path.parent.name,
                path.stem.removeprefix("seed"),
                len(history),
                f"{last['val_accuracy']:.3f}",
                f"{max(row['val_accuracy'] for row in history):.3f}",
                best_epoch(history),
                f"{min(row['val_loss'] for row in history):.3f}",
                f"{last['val_loss']:.3f}",
                f"{last['accuracy'] - last['val_accuracy']:+.3f}",
                f"{sum(row['seconds'] for row in history) / len(history):.1f}",
            ]
        )
    return rows


def history_section(results: Path) -> str:
    header = [
        "experiment",
        "seed",
        "epochs",
        "val acc (last epoch)",
        "val acc (highest)",
        "epoch of lowest val loss",
        "lowest val loss",
        "val loss (last epoch)",
        "train - val acc (last epoch)",
        "s/epoch",
    ]
    return markdown_table(header, history_rows(results))


def run_rows(results: Path) -> list[list]:
    """Per run: validation accuracy at the last epoch and over the last 10 epochs (less noisy),
    test accuracy of the last and best checkpoints, balanced accuracy, macro F1 and ROC AUC of the
    last, and training minutes."""
    rows = []
    for path in sorted((results / "history").glob("*/seed*.csv")):
        history = read_history(path)
        metrics_path = results / "metrics" / path.parent.name / f"{path.stem}.json"
        metrics = read_metrics(metrics_path) if metrics_path.is_file() else None
        last10 = [row["val_accuracy"] for row in history[-10:]]

        def test(checkpoint, key, metrics=metrics):
            value = metrics[checkpoint].get(key) if metrics else None
            return "n/a" if value is None else f"{value:.3f}"

        rows.append(
            [
                path.parent.name,
                path.stem.removeprefix("seed"),
                f"{history[-1]['val_accuracy']:.3f}",
                f"{sum(last10) / len(last10):.3f}",
                test("last", "accuracy"),
                test("best", "accuracy"),
                test("last", "balanced_accuracy"),
                test("last", "macro_f1"),
                test("last", "roc_auc"),
                f"{sum(row['seconds'] for row in history) / 60:.0f}",
            ]
        )
    return rows


def run_section(results: Path) -> str:
    header = [
        "experiment",
        "seed",
        "val acc (last epoch)",
        "val acc (mean of last 10)",
        "test acc (last)",
        "test acc (best)",
        "balanced acc (last)",
        "macro F1 (last)",
        "ROC AUC (last)",
        "training minutes",
    ]
    return markdown_table(header, run_rows(results))


def run_card_rows(results: Path) -> list[list]:
    """Per run, from its run card: where and how it trained."""
    rows = []
    for path in sorted((results / "models").glob("*/seed*.json")):
        card = RunCard.read(path)
        hardware, training, project = card.hardware, card.training, card.project or {}
        device = (
            ", ".join(hardware["gpus"])
            or f"{hardware['cpu']} ({', '.join(hardware['cpu_flags']) or 'no listed flags'})"
        )
        commit = project.get("commit", "")[:10]
        if project.get("changed_files"):
            commit += f" +{project['changed_files']} changed"
        rows.append(
            [
                card.experiment,
                card.seed,
                hardware["backend"],
                card.precision,
                device,
                hardware["threads"],
                commit or "n/a",
                training["epochs"],
                " ".join(map(str, training["resumed_after_epochs"])) or "-",
                f"{training['seconds'] / 3600:.2f}",
            ]
        )
    return rows


def run_card_section(results: Path) -> str:
    header = [
        "experiment",
        "seed",
        "backend",
        "precision",
        "device",
        "threads",
        "commit",
        "epochs",
        "resumed after epoch",
        "training hours",
    ]
    return markdown_table(header, run_card_rows(results))


def rule_times(results: Path) -> list[list]:
    """Wall time and peak memory of every job that has a ``benchmark:`` file."""
    rows = []
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        measurements = read_csv(path, delimiter="\t")
        if not measurements:
            raise DataError(f"{path} holds no measurement: rerun its job")
        measured = measurements[-1]  # with --benchmark-repeats, the last repeat
        job = path.relative_to(results / "benchmarks").with_suffix("").as_posix()
        rows.append(
            [job, f"{float(measured['s']):.0f}", measured["h:m:s"], f"{float(measured['max_rss']):.0f}"]
        )
    return rows


def rule_time_section(results: Path) -> str:
    return markdown_table(["job", "seconds", "h:m:s", "peak RSS (MB)"], rule_times(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the workflow's results folder")
    args = parser.parse_args(argv)
    try:
        sections = [
            ("Test set, over seeds (mean +- sample std (lowest-highest))", summary_section(args.results)),
            ("Test set per class, last-epoch model (mean over seeds)", per_class_section(args.results)),
            ("Training curves, per run", history_section(args.results)),
            ("Every run: validation and test", run_section(args.results)),
            ("How each run was made (results/models/*/seed*.json)", run_card_section(args.results)),
            ("Wall time per job (results/benchmarks)", rule_time_section(args.results)),
        ]
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join(f"### {title}\n\n{table}" for title, table in sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
