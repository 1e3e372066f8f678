"""The slurm profile against a real single-node SLURM (Debian's slurmctld/slurmd, fake GPUs).

Runs in CI (CI=true) and wherever CONVNET_SLURM_TEST=1; it needs root, since it installs and
starts SLURM with tests/slurm/single_node.sh and stops every daemon by its PID afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, copy_tiny_workflow, job_events, real_path, tool
from synthetic import image_files, write_zip
from test_workflow_data import snakemake

SCRIPT = ROOT / "tests" / "slurm" / "single_node.sh"
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_cluster():
    if not (IN_CI or os.environ.get("CONVNET_SLURM_TEST") == "1"):
        pytest.skip("starts a real SLURM as root: runs in CI, or set CONVNET_SLURM_TEST=1")
    reason = None
    if os.geteuid() != 0:
        reason = "needs root to install and start slurmctld/slurmd"
    elif not shutil.which("apt-get") and not shutil.which("slurmctld"):
        reason = "SLURM is not installed and there is no apt-get to install it"
    env = dict(os.environ, PATH=real_path())
    if reason is None:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600, env=env
        )
        if started.returncode != 0:
            reason = f"could not start SLURM: {started.stderr.strip().splitlines()[-3:]}"
    if reason:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, env=env)
        if IN_CI:
            pytest.fail(f"the SLURM test must run in CI, but {reason}")
        pytest.skip(reason)
    yield
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=60, env=env)


def test_tiny_workflow_through_the_slurm_profile(slurm_cluster, tmp_path):
    archive = write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    cluster, local = tmp_path / "cluster", tmp_path / "local"
    for folder in (cluster, local):
        folder.mkdir()
        copy_tiny_workflow(folder)
    data = f"data={{source: url, url: '{archive.as_uri()}'}}"

    command = [
        "timeout",
        "-k",
        "10",
        "900",
        tool("snakemake"),
        "--profile",
        "profiles/slurm",
        "--configfile",
        "tests/tiny-config.yaml",
        "--config",
        data,
        # the fake GPUs are /dev/null: TensorFlow sees none, so fall back to the CPU on purpose
        "compute={accelerator: cpu, cpu_fallback: true}",
        # two seeds: their GPU jobs must be in the queue together (the node has two GPUs)
        "experiments={augmented: {seeds: [1, 2]}}",
        # test-only: no slurmdbd here, a 2-core node, and no 40 s wait before the first status check
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--set-threads",
        "split_data=1",
        "cache_images=1",
        "train=1",
        "evaluate=1",
        "--default-resources",
        "mem_mb=500",
        "runtime=10",
        "--set-resources",
        "train:mem_mb=1000",
        "evaluate:mem_mb=1000",
    ]
    env = dict(os.environ, PATH=f"{os.path.dirname(tool('snakemake'))}:{real_path()}")
    proc = subprocess.run(command, cwd=cluster, capture_output=True, text=True, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]

    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)", output)
    stats = output[output.index("Job stats:") :]
    planned = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    local_jobs = planned.pop("download_data") + planned.pop("all")
    assert local_jobs == 2
    assert len(submitted) == planned.pop("total") - local_jobs == sum(planned.values())
    assert all(os.path.exists(log_path) for _, log_path in submitted)
    assert "rule_download_data" not in " ".join(path for _, path in submitted)

    # profiles/default (loaded too) caps gpu at 1 on the machine that runs Snakemake; a cluster's
    # GPU jobs are not tallied against it: both augmented seeds were submitted before either ended
    trainings = job_events(output, "train")
    seeds = [trainings[f"experiment=augmented, seed={seed}"] for seed in (1, 2)]
    assert max(s["submitted"] for s in seeds) < min(s["finished"] for s in seeds), trainings

    for name in ("baseline", "augmented"):
        train_log = (cluster / "results" / "logs" / "train" / name / "seed1.log").read_text()
        devices = re.search(r"CUDA_VISIBLE_DEVICES=(\S+)", train_log).group(1)
        assert devices not in ("", "(unset)"), "the training job was given no GPU"
        assert "sees no GPU" in train_log and "running on the CPU" in train_log
        assert (cluster / "results" / "plots" / name / "seed1_errors.png").is_file()
    assert (cluster / "results" / "metrics" / "test_metrics.csv").is_file()

    snakemake(local, "results/data/manifest.csv", "--configfile", "tests/tiny-config.yaml", "--config", data)
    manifest = "results/data/manifest.csv"
    assert (cluster / manifest).read_bytes() == (local / manifest).read_bytes()

    # a sweep on the same cluster (the split and caches are there): every point's training is
    # submitted at once, not one after another
    sweep = "sweeps={s: {experiment: baseline, grid: {learning_rate: [0.001, 0.003, 0.01]}, seeds: [1], rank: {metric: val_accuracy, last_epochs: 1}}}"
    at, tool_at = command.index("--slurm-status-command"), command.index(tool("snakemake")) + 1
    proc = subprocess.run(
        [*command[:tool_at], "results/sweeps/s/leaderboard.csv", *command[tool_at:at], sweep, *command[at:]],
        cwd=cluster,
        capture_output=True,
        text=True,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    trainings = job_events(output, "train")
    points = [e for name, e in trainings.items() if "sweeps/s/" in name]
    assert len(points) == 3, trainings
    assert max(e["submitted"] for e in points) < min(e["finished"] for e in points), trainings
    assert len((cluster / "results/sweeps/s/leaderboard.csv").read_text().splitlines()) == 4
