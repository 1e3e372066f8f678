"""The whole workflow as a user runs it, on tiny synthetic images: rule all, the report, targets."""

from __future__ import annotations

import re

import fault_suite
import pandas as pd
import pytest
from conftest import REAL_DATA, SHARES_THE_REFERENCE, copy_tiny_workflow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    # at the end, the failing job's one line and its log (onerror)
    assert (
        "model_summary failed: experiment 'baseline': layer dense (Dense) outputs 256 but "
        "experiments.baseline.expect.shapes "
        "expects 512" in proc.stderr
    )
    assert "(log: results/logs/model_summary/baseline.log)" in proc.stderr


@pytest.fixture(scope="session")  # two tests of one xdist group; a worker may run others between
def two_seeds_added_later(reference, tmp_path_factory):
    """rule all, as a user goes on from a finished run: the fault suite's reference run (every
    target, from an archive served over HTTP, seed 1 of both experiments, 3 epochs) copied, then
    seeds 2 and 3 of the augmented experiment added, their trainings at one thread each (two cores
    would fit both at once). Yields the folder, the config, the plan and Snakemake's output."""
    workdir = fault_suite.copy_of(reference, tmp_path_factory.mktemp("two-seeds-added") / "run")
    seeds = fault_suite.EPOCHS.replace("augmented: {", "augmented: {seeds: [1, 2, 3], ")
    assert seeds != fault_suite.EPOCHS and reference.args[-1] == fault_suite.EPOCHS
    config = [*reference.args[:-1], seeds]
    plan = planned_jobs(workdir, *config)
    proc = snakemake(workdir, *config, "--set-threads", "train=1")
    return workdir, config, plan, proc.stdout + proc.stderr


@pytest.mark.slow
@SHARES_THE_REFERENCE
def test_rule_all_and_the_report_on_tiny_synthetic_data(two_seeds_added_later):
    workdir, config, plan, _ = two_seeds_added_later
    # the seeds added later train only the new runs; the summary and curves take them in
    assert plan["train"] == 2 and plan["evaluate"] == 2 and "model_summary" not in plan
    assert plan["experiment_summary"] == 1 and plan["plot_history"] == 2

    results = workdir / "results"
    for name, seeds in (("baseline", [1]), ("augmented", [1, 2, 3])):
        for kind in ("accuracy", "loss"):
            assert (results / "plots" / f"{name}_{kind}.png").stat().st_size > 10_000
        for seed in seeds:
            for kind in ("confusion", "errors"):
                assert (results / "plots" / name / f"seed{seed}_{kind}.png").stat().st_size > 10_000
            assert (results / "models" / name / f"seed{seed}_best.h5").is_file()
            history = pd.read_csv(results / "history" / name / f"seed{seed}.csv")
            assert history["epoch"].tolist() == [1, 2, 3]
            assert (results / "benchmarks" / "train" / name / f"seed{seed}.tsv").is_file()
        summary = pd.read_csv(results / "metrics" / f"{name}_summary.csv")
        assert summary["checkpoint"].tolist() == ["last", "best"]
        assert summary["seeds"].astype(str).tolist() == [" ".join(map(str, seeds))] * 2
    losses = {
        tuple(pd.read_csv(results / "history" / "augmented" / f"seed{seed}.csv")["loss"])
        for seed in (1, 2, 3)
    }
    assert len(losses) == 3  # each seed reached training
    table = pd.read_csv(results / "metrics" / "test_metrics.csv")
    assert len(table) == 8 and set(table["images"]) == {12}
    assert table["seed"].tolist() == [1, 1, 1, 1, 2, 2, 3, 3]
    assert not (results / "checkpoints" / "baseline" / "seed1").exists()
    dry_run = snakemake(workdir, "-n", *config)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr

    snakemake(workdir, "--report", "report.html", *config)
    html = (workdir / "report.html").read_text()
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


# TensorFlow's and XLA's start-up lines (written from C++ as TensorFlow loads) and their prefixes
TENSORFLOW_START_UP = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cuInit",
    "cuda drivers",
    "I0000",
    "E0000",
)


@pytest.mark.slow
@SHARES_THE_REFERENCE
def test_the_terminal_shows_progress_and_results_not_tensorflows_start_up(two_seeds_added_later):
    workdir, _, _, terminal = two_seeds_added_later
    assert not [line for line in terminal.splitlines() if any(s in line for s in TENSORFLOW_START_UP)]
    # each training: a first line with what it trains, then its epochs with the time left
    assert "augmented seed 2: 3 epochs of 96 training images, 12 for validation" in terminal, terminal[-4000:]
    for seed in (2, 3):
        for epoch in (1, 2, 3):
            assert re.search(
                rf"^augmented seed {seed}: epoch {epoch}/3 - [\d.]+ s - accuracy: [\d.]+ - loss: [\d.]+ - .*"
                rf"val_accuracy: [\d.]+ - val_loss: [\d.]+ - \d+ s left$",
                terminal,
                re.M,
            ), (seed, epoch, terminal[-3000:])
    # the results at the end: one row per experiment, its seeds, means over them
    assert re.search(
        r"^experiment +seeds +val acc, last epoch +test acc, last / best model +min per run$", terminal, re.M
    )
    assert re.search(r"^augmented +1, 2, 3 +0\.\d{3} +0\.\d{3} / 0\.\d{3} +\d+\.\d$", terminal, re.M)
    assert re.search(r"^baseline +1 +0\.\d{3} +0\.\d{3} / 0\.\d{3}", terminal, re.M)
    assert "report: snakemake --report report.html" in terminal
    # TensorFlow's lines still reach the job's log
    assert "absl::InitializeLog" in (workdir / "results/logs/train/augmented/seed2.log").read_text()


@pytest.mark.slow
def test_five_unequal_classes_from_a_folder_of_class_folders_end_to_end(tmp_path):
    """A user's own photos: config/own-photos.yaml, auto classes, fractions, camera photos with
    an orientation tag and upper-case suffixes, predictions on new photos, the report."""
    import json

    from synthetic import camera_jpeg, class_folders, class_image

    copy_tiny_workflow(tmp_path)
    counts = {"apple": 14, "banana": 9, "cherry": 20, "date": 6, "elder": 11}
    files = class_folders(counts, root="shots")
    files["shots/date/IMG_0001.JPG"] = camera_jpeg(class_image(7, 3, 40)[:, :20], orientation=6)
    write_zip(tmp_path / "shots.zip", files)
    new = tmp_path / "new photos"
    new.mkdir()
    (new / "IMG 1.JPG").write_bytes(camera_jpeg(class_image(1, 2, 40)))
    config = [
        "--configfile",
        "config/own-photos.yaml",
        "tests/tiny-config.yaml",
        "--config",
        "data={source: local, path: shots.zip, layout: folders, classes: auto, split: {train: 0.6, validation: 0.2, test: 0.2}}",
        f"predict={{new: '{new}'}}",
    ]
    snakemake(tmp_path, *config)
    results = tmp_path / "results"
    provenance = json.loads((results / "data" / "provenance.json").read_text())
    assert provenance["classes"] == sorted(counts) and provenance["images"]["train"]["date"] == 4
    assert provenance["dropped"] == 0  # the camera photo (no JFIF marker) is kept
    summary = (results / "models" / "baseline_summary.tsv").read_text().splitlines()
    assert summary[-1].split("\t")[:3] == ["probability", "Dense", "5"]
    metrics = json.loads((results / "metrics" / "augmented" / "seed1.json").read_text())
    assert len(metrics["last"]["confusion_matrix"]) == 5 and set(metrics["last"]["per_class"]) == set(counts)
    for kind in ("confusion", "per_class", "errors"):
        assert (results / "plots" / "augmented" / f"seed1_{kind}.png").stat().st_size > 10_000
    predictions = pd.read_csv(results / "predictions" / "baseline" / "seed1" / "new.csv")
    assert [f"probability_{c}" for c in sorted(counts)] == [c for c in predictions if c.startswith("prob")]
    assert predictions["predicted"].iloc[0] in counts
    assert (results / "predictions" / "baseline" / "seed1" / "new.png").is_file()
    table = pd.read_csv(results / "metrics" / "test_metrics.csv")
    assert table["precision"].isna().all() and table["macro_f1"].notna().all()
    snakemake(tmp_path, "--report", "report.html", *config)
    html = (tmp_path / "report.html").read_text()
    assert "seed1_per_class.png" in html
    # the landing page is about this run: its classes and counts, no book figures
    assert "5 classes (apple, banana, cherry, date, elder)" in html and "The book reports" not in html


TRASHNET = REAL_DATA.with_name("trashnet.zip")


@pytest.mark.slow
@pytest.mark.skipif(not TRASHNET.is_file(), reason=f"real data not found at {TRASHNET}")
def test_real_data_smoke_run_on_trashnet_six_unequal_classes(tmp_path):
    """The README's own-photos command on TrashNet (2,521 photos, 6 classes, 137 to 594 each), for
    the baseline's plots with one short epoch: split, the book's model checked with a 6-unit head,
    training, evaluation, plots."""
    import json

    copy_tiny_workflow(tmp_path)
    snakemake(
        tmp_path,
        "results/plots/baseline/seed1_confusion.png",
        "results/plots/baseline/seed1_per_class.png",
        "--configfile",
        "config/own-photos.yaml",
        "--config",
        f"data={{path: '{TRASHNET}'}}",
        "experiments={baseline: {epochs: 1, steps_per_epoch: 3}}",
    )
    results = tmp_path / "results"
    provenance = json.loads((results / "data" / "provenance.json").read_text())
    assert provenance["classes"] == ["cardboard", "glass", "metal", "paper", "plastic", "trash"]
    assert sum(sum(split.values()) for split in provenance["images"].values()) == 2521
    assert provenance["images"]["test"]["trash"] == 21 and provenance["images"]["train"]["paper"] == 416
    metrics = json.loads((results / "metrics" / "baseline" / "seed1.json").read_text())
    assert metrics["last"]["images"] == 378 and len(metrics["last"]["per_class"]) == 6
    summary = (results / "models" / "baseline_summary.tsv").read_text().splitlines()
    assert summary[-1].split("\t")[:4] == ["probability", "Dense", "6", "3078"]


@pytest.mark.slow
@SHARES_THE_REFERENCE
def test_on_one_workstation_two_gpu_jobs_never_run_at_once(two_seeds_added_later):
    """profiles/default caps gpu at 1 on the machine that runs Snakemake (a local resource, so a
    cluster is not capped: tests/test_slurm.py): the two seeds' trainings run one after the other
    though two cores would fit both."""
    from conftest import job_events

    *_, output = two_seeds_added_later
    trainings = job_events(output, "train")
    first, second = sorted(trainings.values(), key=lambda events: events["started"])
    assert len(trainings) == 2 and first["finished"] < second["started"], trainings
