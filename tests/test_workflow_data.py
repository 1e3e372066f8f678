"""The data step as a user runs it: through Snakemake, with the config given on the command line."""

from __future__ import annotations

import os
import subprocess

import forked_snakemake
import pytest
from conftest import ROOT, tool
from synthetic import image_files, write_zip

SMALL_SPLIT = "split: {train: 4, validation: 2, test: 2}"
MANIFEST = "results/data/manifest.csv"


def snakemake(workdir, *args, check=True):
    proc = forked_snakemake.run(["--cores", "2", *args], workdir)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def test_dry_run_of_the_default_config_plans_download_then_split():
    out = snakemake(ROOT, "-n", "--quiet", "rules").stdout
    assert "download_data" in out and "split_data" in out


def test_lint_is_clean():
    proc = snakemake(ROOT, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    proc = subprocess.run([tool("snakefmt"), "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "config, message",
    [
        ("data={source: local}", "data.source is 'local' but data.path is not set"),
        ("data={source: local, path: nowhere.zip}", "data.path 'nowhere.zip' does not exist"),
        ("data={source: ftp}", "source"),
        ("data={spilt: {train: 1}}", "spilt"),
    ],
)
def test_bad_config_is_a_clear_error(workdir, config, message):
    proc = snakemake(workdir, "-n", "--config", config, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


@pytest.mark.slow
def test_split_through_snakemake_on_a_synthetic_archive(workdir):
    write_zip(workdir / "pets.zip", image_files("folders", 10))
    config = f"data={{source: local, path: pets.zip, {SMALL_SPLIT}}}"
    snakemake(workdir, "results/data/manifest.csv", "--config", config)
    manifest = (workdir / "results/data/manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 16
    assert (workdir / "results/logs/split_data.log").read_text().count("dropped") >= 4
    assert (workdir / "results/benchmarks/split_data.tsv").exists()
    # the same archive copied again (a newer time, the same bytes) redoes nothing
    os.utime(workdir / "pets.zip")
    dry_run = snakemake(workdir, "-n", "results/data/manifest.csv", "--config", config)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr


@pytest.mark.slow
def test_url_source_downloads_then_splits(workdir, tmp_path_factory):
    archive = write_zip(tmp_path_factory.mktemp("remote") / "pets.zip", image_files("kaggle", 10))
    snakemake(
        workdir, MANIFEST, "--config", f"data={{source: url, url: '{archive.as_uri()}', {SMALL_SPLIT}}}"
    )
    assert (workdir / "results/downloads/pets.zip").read_bytes() == archive.read_bytes()
    assert "sha256" in (workdir / "results/logs/download_data.log").read_text()
    assert (workdir / "results/data/train/dogs/dog.3.jpg").is_file()


@pytest.mark.slow
def test_settings_that_change_no_byte_rerun_nothing_and_a_wrong_pin_still_fails(workdir, tmp_path_factory):
    """On main, changing data.download.retries or timeout_s, or pinning the archive's own sha256,
    planned the download, split, caches and every training again ("Params have changed")."""
    import hashlib

    archive = write_zip(tmp_path_factory.mktemp("remote") / "pets.zip", image_files("kaggle", 10))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    data = f"source: url, url: '{archive.as_uri()}', {SMALL_SPLIT}"
    snakemake(workdir, MANIFEST, "--config", f"data={{{data}}}")
    for change in ("download: {retries: 1, timeout_s: 5}", f"sha256: {digest}"):
        plan = snakemake(workdir, "-n", MANIFEST, "--config", f"data={{{data}, {change}}}").stdout
        assert "Nothing to be done" in plan, (change, plan)
    wrong = snakemake(
        workdir, "-n", MANIFEST, "--config", f"data={{{data}, sha256: {'0' * 64}}}", check=False
    )
    assert wrong.returncode != 0
    assert f"data.sha256 pins {'0' * 64}, but the archive" in wrong.stderr + wrong.stdout
    assert f"has sha256 {digest}" in wrong.stderr + wrong.stdout


@pytest.mark.parametrize(
    "config, message",
    [
        (
            "foo=1",
            "config: unknown key 'foo' at the top level (allowed: compute, data, experiment_defaults, "
            "experiments, heatmaps, predict, pretrained, sweeps)",
        ),
        (
            "beyond={enabled: true}",
            "config: beyond.enabled and beyond.experiments are gone: the beyond experiments are an "
            "overlay now, add --configfile config/beyond.yaml",
        ),
        (
            "experiments={baseline: {epochs: ten}}",
            'config: experiments.baseline.epochs is "ten" but must be an integer, at least 1;',
        ),
        (
            "experiments={augmented: {augmentation: {shear_degrees: 5}}}",
            "experiments.augmented.augmentation sets both shear_radians and shear_degrees",
        ),
    ],
)
def test_bad_config_keys_are_one_line_naming_the_key_and_the_fix(workdir, config, message):
    """On main: an unknown top-level key printed the whole schema (~200 lines), and a wrong type
    'is not valid under any of the given schemas'."""
    proc = snakemake(workdir, "-n", "--config", config, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert message in output
    assert len(output.splitlines()) < 12, output
    assert "additionalProperties" not in output and "$defs" not in output


@pytest.mark.slow
@pytest.mark.realdata
def test_real_data_split_counts_and_identical_manifest_on_a_second_run(workdir, real_data):
    config = f"data={{source: local, path: '{real_data}'}}"
    snakemake(workdir, "results/data/manifest.csv", "--config", config)
    first = (workdir / "results/data/manifest.csv").read_bytes()
    rows = first.decode().splitlines()[1:]
    counts = {}
    for row in rows:
        split, label = row.split(",")[2], row.split(",")[1]
        counts[split, label] = counts.get((split, label), 0) + 1
    assert counts == {
        ("train", "cats"): 1000,
        ("train", "dogs"): 1000,
        ("validation", "cats"): 500,
        ("validation", "dogs"): 500,
        ("test", "cats"): 500,
        ("test", "dogs"): 500,
    }
    assert rows[0].startswith("train/cats/cat.0.jpg,") and rows[1000].startswith("train/dogs/dog.0.jpg,")
    assert any(r.startswith("validation/cats/cat.1000.jpg,") for r in rows)
    assert any(r.startswith("test/dogs/dog.1999.jpg,") for r in rows)
    snakemake(workdir, "results/data/manifest.csv", "--config", config, "--forcerun", "split_data")
    assert (workdir / "results/data/manifest.csv").read_bytes() == first
