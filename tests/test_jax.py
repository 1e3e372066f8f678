"""JAX is a tested backend: every test marked `jax` (what the backend computes: the layers, the
models, the backend checks, a training of each kind with its exact resume, two and three classes,
the residual family with every training setting of issue 25), and every step of the tiny workflow
for the augmented experiment (model check, training with augmentation, a kill and resume,
evaluation, plots) with KERAS_BACKEND=jax, on the CPU. Keras picks its backend once per process, so
each runs in its own."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, copy_tiny_workflow
from synthetic import image_files, write_zip

import fault_suite

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("jax") is None, reason="jax is not installed (requirements-dev.txt)"
    ),
]


@pytest.fixture
def jax_env(tmp_path):
    """KERAS_BACKEND=jax with a persistent compilation cache in the test's folder: each process (a
    resumed run, an evaluation, another test's model of the same shapes) would compile the same
    functions again; the cache keys an executable by the compiled program, its options and the
    JAX version, so it hands back what compiling again would give. XLA's LLVM backend at its lowest
    optimization level: the tests' tiny models spend most of their time compiling, little running
    the code; what the tests check, the Keras code on JAX, is the same at every level."""
    return dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-compilation-cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
    )


def test_the_model_augmentation_and_training_tests_pass_on_jax(jax_env):
    # The tests whose outcome the backend decides are marked `jax`; the others check files,
    # settings and bookkeeping that no backend touches (damaged checkpoints, refused resumes, run
    # card fields), and the TensorFlow run of the whole suite covers them and the other variants.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "jax",
            "tests/test_train.py",
            "tests/test_augmentation.py",
            "tests/test_model.py",
            "tests/test_backend.py",
            # the softmax head and class weights (a Python generator feeds JAX): 3 classes
            "tests/test_many_classes.py",
            "tests/test_beyond.py",
        ],
        cwd=ROOT,
        env=jax_env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_the_tiny_workflow_runs_and_resumes_on_jax(tmp_path, jax_env):
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    args = [
        *fault_suite.TINY,
        "--config",
        "data={path: pets.zip}",
        "experiments={augmented: {epochs: 3, steps_per_epoch: 3}}",
    ]
    # The augmented experiment's steps, each a job of its own: the baseline's take the same rules
    # (its training on JAX, resumed too: the test above); each job here starts TensorFlow and JAX.
    targets = [
        "results/plots/augmented/seed1_errors.png",
        "results/plots/augmented/seed1_confusion.png",
        "results/plots/augmented_loss.png",
    ]

    # kill the whole workflow once training has checkpointed an epoch, then recover as the README says
    proc = subprocess.Popen(
        [*fault_suite.snakemake_command(tmp_path, *targets, *args)],
        cwd=tmp_path,
        env=jax_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for path in fault_suite.watch_new_files(tmp_path, proc, set()):
        if "results/checkpoints/" in path and "state.json" in path:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    for extra in (["--unlock"], ["--rerun-incomplete"]):
        done = subprocess.run(
            fault_suite.snakemake_command(tmp_path, *targets, *args, *extra),
            cwd=tmp_path,
            env=jax_env,
            capture_output=True,
            text=True,
            timeout=1500,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = tmp_path / "results"
    logs = " ".join(p.read_text() for p in (results / "logs" / "train").rglob("*.log"))
    assert "backend jax" in logs and "resuming after epoch" in logs
    card = json.loads((results / "models" / "augmented" / "seed1.json").read_text())
    assert card["hardware"]["backend"] == "jax" and card["training"]["epochs"] == 3
    assert json.loads((results / "metrics" / "augmented" / "seed1.json").read_text())["last"]["accuracy"] >= 0
    assert (results / "plots" / "augmented_loss.png").stat().st_size > 10_000
    assert not (results / "models" / "baseline").exists()
    history = [
        line.split(",") for line in (results / "history" / "augmented" / "seed1.csv").read_text().splitlines()
    ]
    assert float(history[-1][1]) < float(history[1][1]), "training on JAX did not lower the loss"

    # the model check is the same model, layer by layer, on both backends
    jax_summary = (results / "models" / "augmented_summary.tsv").read_text()
    tensorflow = subprocess.run(
        fault_suite.snakemake_command(
            tmp_path, "--forcerun", "model_summary", "results/models/augmented_summary.tsv", *args
        ),
        cwd=tmp_path,
        env=dict(os.environ, KERAS_BACKEND="tensorflow"),
        capture_output=True,
        text=True,
    )
    assert tensorflow.returncode == 0, tensorflow.stderr[-2000:]
    assert "BookAugmentation" in jax_summary and "\tDense\t" in jax_summary
    assert (results / "models" / "augmented_summary.tsv").read_text() == jax_summary
