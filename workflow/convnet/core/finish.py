"""What the terminal shows when a run of the workflow ends: after a success, one compact table of
the experiments whose runs exist, with where the plots are and the command for the report; after a
failure, each failing job's one-line error and its log. Standard library only: it runs in
Snakemake's own process (the Snakefile's ``onsuccess:`` and ``onerror:``)."""

from __future__ import annotations

import re
from pathlib import Path
from statistics import mean

from .errors import DataError
from .logs import error_messages
from .records import read_history, read_metrics

HEADER = ("experiment", "seeds", "val acc, last epoch", "test acc, last / best model", "min per run")


def _history(path: Path) -> tuple[float, float] | None:
    """(validation accuracy at the last epoch, training seconds) of a run's history, if any."""
    try:
        rows = read_history(path)
        return rows[-1]["val_accuracy"], sum(row["seconds"] for row in rows)
    except (DataError, KeyError):
        return None


def _test_accuracy(path: Path) -> tuple[float, float] | None:
    """(last-epoch model, lowest-validation-loss model) test accuracy of a run, if evaluated."""
    if not path.is_file():
        return None
    try:
        metrics = read_metrics(path)
        return float(metrics["last"]["accuracy"]), float(metrics["best"]["accuracy"])
    except (DataError, KeyError, TypeError, ValueError):
        return None


def results_table(runs: list[tuple[str, int]], history: str, metrics: str) -> list[list[str]]:
    """One row per experiment that has at least one trained run: its seeds, and the means over
    them. ``history`` and ``metrics`` are path patterns with ``{experiment}`` and ``{seed}``."""
    by_experiment: dict[str, list[tuple[int, tuple, tuple | None]]] = {}
    for name, seed in runs:
        trained = _history(Path(history.format(experiment=name, seed=seed)))
        if trained is not None:
            tested = _test_accuracy(Path(metrics.format(experiment=name, seed=seed)))
            by_experiment.setdefault(name, []).append((seed, trained, tested))
    rows = []
    for name, built in by_experiment.items():
        tested = [test for _, _, test in built if test is not None]
        rows.append(
            [
                name,
                ", ".join(str(seed) for seed, _, _ in built),
                f"{mean(trained[0] for _, trained, _ in built):.3f}",
                f"{mean(t[0] for t in tested):.3f} / {mean(t[1] for t in tested):.3f}" if tested else "-",
                f"{mean(trained[1] for _, trained, _ in built) / 60:.1f}",
            ]
        )
    return rows


def format_table(rows: list[list[str]]) -> list[str]:
    """The header and the rows in columns padded to their widest cell."""
    table = [list(HEADER), *rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(HEADER))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]


def success_lines(runs: list[tuple[str, int]], history: str, metrics: str, plots: str) -> list[str]:
    """The table (means over each experiment's seeds), then where to look next; nothing when no run
    has trained yet (a run that only split the data)."""
    rows = results_table(runs, history, metrics)
    if not rows:
        return []
    return [
        "",
        *format_table(rows),
        "",
        f"plots: {plots}/ (comparison.png, <experiment>_accuracy.png, <experiment>_loss.png)",
        "report: snakemake --report report.html",
    ]


def failures(snakemake_log) -> list[tuple[str, str | None]]:
    """(rule, its log file) for each ``Error in rule`` of Snakemake's log: a path, or the list of
    them that Snakemake hands ``onerror``."""
    paths = snakemake_log if isinstance(snakemake_log, (list, tuple)) else [snakemake_log]
    text = ""
    for path in filter(None, paths):
        try:
            text += Path(path).read_text(errors="replace")
        except OSError:
            continue
    found = []
    for block in re.split(r"^Error in rule ", text, flags=re.M)[1:]:
        rule = block.split(":", 1)[0].strip()
        log = re.search(r"^\s+log: (\S+)", block, re.M)
        found.append((rule, log.group(1) if log else None))
    return found


def last_error(log: str | Path) -> str | None:
    """A job log's last line of the workflow's own errors (``... ERROR message``), else its last
    line (a traceback's exception)."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return None
    errors = error_messages(text)
    lines = [line for line in text.splitlines() if line.strip()]
    return errors[-1] if errors else (lines[-1].strip() if lines else None)


def failure_lines(snakemake_log) -> list[str]:
    """Per failing job: its rule, its one-line error and the log to read."""
    lines = []
    for rule, log in dict.fromkeys(failures(snakemake_log)):
        error = last_error(log) if log else None
        lines.append(f"{rule} failed: {error or 'see the log'}" + (f" (log: {log})" if log else ""))
    return lines
