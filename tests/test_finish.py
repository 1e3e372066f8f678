"""What the terminal shows when the workflow ends (convnet.core.finish): the results table after a
success, each failing job's one line and log after a failure."""

from __future__ import annotations

import json

from convnet.core.files import atomic_write_table
from convnet.core.finish import failure_lines, success_lines

HISTORY = "results/history/{experiment}/seed{seed}.csv"
METRICS = "results/metrics/{experiment}/seed{seed}.json"


def trained(root, name, seed, val_accuracy, seconds, test=None):
    rows = [[1, 0.5, seconds / 2], [2, val_accuracy, seconds / 2]]
    atomic_write_table(
        root / HISTORY.format(experiment=name, seed=seed), ["epoch", "val_accuracy", "seconds"], rows
    )
    if test is not None:
        path = root / METRICS.format(experiment=name, seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"last": {"accuracy": test[0]}, "best": {"accuracy": test[1]}}))


def test_the_table_has_a_row_per_experiment_built_with_means_over_its_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained(tmp_path, "augmented", 1, 0.80, 600, test=(0.81, 0.83))
    trained(tmp_path, "augmented", 2, 0.70, 1200, test=(0.71, 0.73))
    trained(tmp_path, "baseline", 1, 0.75, 120)  # trained, not evaluated yet
    runs = [("baseline", 1), ("augmented", 1), ("augmented", 2), ("augmented", 3), ("wide", 1)]
    lines = success_lines(runs, HISTORY, METRICS, "results/plots")
    assert lines[0] == "" and lines[1].split("  ")[0] == "experiment"
    assert "test acc, last / best model" in lines[1] and lines[1].endswith("min per run")
    rows = {line.split()[0]: line for line in lines[2:4]}
    assert rows.keys() == {"baseline", "augmented"}  # only what was built: no seed 3, no "wide"
    assert rows["augmented"].split() == ["augmented", "1,", "2", "0.750", "0.760", "/", "0.780", "15.0"]
    assert rows["baseline"].split() == ["baseline", "1", "0.750", "-", "2.0"]
    assert (
        lines[-2]
        == "plots: results/plots/ (comparison.png, <experiment>_accuracy.png, <experiment>_loss.png)"
    )
    assert lines[-1] == "report: snakemake --report report.html"


def test_nothing_is_printed_before_any_run_has_trained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert success_lines([("baseline", 1)], HISTORY, METRICS, "results/plots") == []


SNAKEMAKE_LOG = """\
[Sun Dec  6 20:00:00 2026]
Error in rule train:
    message: None
    jobid: 5
    input: results/models/baseline_summary.tsv
    output: results/models/baseline/seed1.h5
    log: {log} (check log file(s) for error details)

Error in rule evaluate:
    jobid: 9
    output: results/metrics/augmented/seed1.json

Exiting because a job execution failed. Look below for error messages
"""


def test_a_failure_is_one_line_per_job_with_its_log(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "2026-12-06 20:00:00,000 INFO epoch 1/3\n"
        "2026-12-06 20:00:01,000 ERROR results/cache/150x150-nearest/train.npz holds 46x46 images: rebuild it\n"
    )
    snakemake_log = tmp_path / "snakemake.log"
    snakemake_log.write_text(SNAKEMAKE_LOG.format(log=log))
    assert failure_lines(snakemake_log) == [
        f"train failed: results/cache/150x150-nearest/train.npz holds 46x46 images: rebuild it (log: {log})",
        "evaluate failed: see the log",
    ]
    # a traceback's last line when the job did not stop with the workflow's own error
    log.write_text("Traceback (most recent call last):\n  ...\nValueError: bad shape\n")
    assert failure_lines(snakemake_log)[0] == f"train failed: ValueError: bad shape (log: {log})"
    # TensorFlow's C++ lines in the same log are not the workflow's errors, though one says ERROR
    log.write_text(
        "E0000 00:00:1796605113.1 2663 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error: "
        "Failed call to cuInit: UNKNOWN ERROR (303)\n"
        "2026-12-06 20:00:01,000 ERROR cache_images.size: 46x46 is too small; use at least 32x32\n"
        "W0000 00:00:1796605114.2 2663 gpu_device.cc:2341] Cannot dlopen some GPU libraries.\n"
    )
    assert failure_lines(snakemake_log)[0] == (
        f"train failed: cache_images.size: 46x46 is too small; use at least 32x32 (log: {log})"
    )
    log.write_text(log.read_text().replace(" ERROR cache_images", " INFO cache_images") + "Killed\n")
    assert failure_lines(snakemake_log)[0] == f"train failed: Killed (log: {log})"
    assert failure_lines([str(snakemake_log)]) == failure_lines(snakemake_log)  # as onerror hands it
    assert failure_lines(tmp_path / "missing.log") == []
