"""The whole workflow as a user runs it, on tiny synthetic images: rule all, the report, targets."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest
from conftest import copy_tiny_workflow
from synthetic import image_files, write_zip
from test_workflow_data import snakemake

TINY = ["--configfile", "tests/tiny-config.yaml"]


@pytest.fixture
def tiny_workdir(tmp_path):
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    return tmp_path


def planned_jobs(workdir, *args) -> dict[str, int]:
    out = snakemake(workdir, "-n", *args).stdout
    table = out[out.index("Job stats:") :]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
        if m.group(1) != "total"
    }


def test_a_single_plot_builds_only_what_it_needs(tiny_workdir):
    jobs = planned_jobs(
        tiny_workdir, "results/plots/augmented_loss.png", *TINY, "--config", "data={path: pets.zip}"
    )
    assert jobs == {"split_data": 1, "cache_images": 2, "model_summary": 1, "train": 1, "plot_history": 1}


def test_the_default_target_covers_every_experiment(tiny_workdir):
    jobs = planned_jobs(tiny_workdir, *TINY, "--config", "data={path: pets.zip}")
    assert jobs["train"] == 2 and jobs["evaluate"] == 2 and jobs["plot_history"] == 4
    assert jobs["plot_errors"] == 2 and jobs["plot_comparison"] == 1 and jobs["metrics_table"] == 1
    assert jobs["experiment_summary"] == 2


def test_each_seed_is_a_separate_training_job(tiny_workdir):
    seeds = ["--config", "data={path: pets.zip}", "experiments={augmented: {seeds: [3, 1, 2]}}"]
    jobs = planned_jobs(tiny_workdir, *TINY, *seeds)
    assert jobs["train"] == 4 and jobs["evaluate"] == 4 and jobs["plot_confusion"] == 4
    assert jobs["experiment_summary"] == 2 and jobs["metrics_table"] == 1
    # the augmented curves need all three of its runs and nothing of the baseline
    jobs = planned_jobs(tiny_workdir, "results/plots/augmented_loss.png", *TINY, *seeds)
    assert jobs["train"] == 3 and jobs["plot_history"] == 1 and jobs["model_summary"] == 1
    # a seed outside the list is no target
    proc = snakemake(tiny_workdir, "-n", "results/models/augmented/seed7.h5", *TINY, *seeds, check=False)
    assert proc.returncode != 0 and "MissingRuleException" in proc.stdout + proc.stderr


def test_a_third_experiment_is_one_config_key(tiny_workdir):
    extra = tiny_workdir / "third.yaml"
    extra.write_text("experiments:\n  wide:\n    dense_units: 16\n")
    jobs = planned_jobs(tiny_workdir, *TINY, str(extra), "--config", "data={path: pets.zip}")
    assert jobs["train"] == 3 and jobs["evaluate"] == 3 and jobs["model_summary"] == 3


def test_the_books_model_check_stops_a_changed_architecture_before_training(tiny_workdir):
    proc = snakemake(
        tiny_workdir,
        "results/models/baseline/seed1.h5",
        "--config",
        "data={source: local, path: pets.zip, split: {train: 4, validation: 2, test: 2}}",
        "experiments={baseline: {dense_units: 256}}",
        check=False,
    )
    assert proc.returncode != 0
    assert (
        "layer dense (Dense) outputs 256 but experiments.baseline.expect.shapes expects 512"
        in proc.stderr + proc.stdout
    )
    assert not (tiny_workdir / "results" / "logs" / "train").exists()  # nothing reached training


@pytest.mark.slow
def test_rule_all_and_the_report_on_tiny_synthetic_data(tiny_workdir):
    config = ["--config", "data={path: pets.zip}", "experiments={augmented: {seeds: [1, 2]}}"]
    snakemake(tiny_workdir, *TINY, *config)
    results = tiny_workdir / "results"
    for name, seeds in (("baseline", [1]), ("augmented", [1, 2])):
        for kind in ("accuracy", "loss"):
            assert (results / "plots" / f"{name}_{kind}.png").stat().st_size > 10_000
        for seed in seeds:
            for kind in ("confusion", "errors"):
                assert (results / "plots" / name / f"seed{seed}_{kind}.png").stat().st_size > 10_000
            assert (results / "models" / name / f"seed{seed}_best.h5").is_file()
            history = pd.read_csv(results / "history" / name / f"seed{seed}.csv")
            assert history["epoch"].tolist() == [1, 2]
            assert (results / "benchmarks" / "train" / name / f"seed{seed}.tsv").is_file()
        summary = pd.read_csv(results / "metrics" / f"{name}_summary.csv")
        assert summary["checkpoint"].tolist() == ["last", "best"]
        assert summary["seeds"].astype(str).tolist() == [" ".join(map(str, seeds))] * 2
    augmented = [pd.read_csv(results / "history" / "augmented" / f"seed{s}.csv") for s in (1, 2)]
    assert augmented[0]["loss"].tolist() != augmented[1]["loss"].tolist()  # the seed reached training
    table = pd.read_csv(results / "metrics" / "test_metrics.csv")
    assert len(table) == 6 and set(table["images"]) == {12}
    assert table["seed"].tolist() == [1, 1, 1, 1, 2, 2]
    assert not (results / "checkpoints" / "baseline" / "seed1").exists()

    # the same archive copied again (newer time) redoes nothing
    os.utime(tiny_workdir / "pets.zip")
    dry_run = snakemake(tiny_workdir, "-n", *TINY, *config)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr

    # a seed added later trains only the new run; the summary and curves take it in
    more = ["--config", "data={path: pets.zip}", "experiments={augmented: {seeds: [1, 2, 3]}}"]
    jobs = planned_jobs(tiny_workdir, *TINY, *more)
    assert jobs["train"] == 1 and jobs["evaluate"] == 1 and "model_summary" not in jobs
    assert jobs["experiment_summary"] == 1 and jobs["plot_history"] == 2

    snakemake(tiny_workdir, "--report", "report.html", *TINY, *config)
    html = (tiny_workdir / "report.html").read_text()
    assert len(html) > 100_000
    for needle in (
        "test_metrics.csv",
        "comparison.png",
        "seed2_errors.png",
        "augmented_summary.csv",
        "provenance.json",
        "config.yaml",
        "Run cards",  # each model's run card (results/models/{experiment}/seed{N}.json)
    ):
        assert needle in html, needle
