"""Training on the JAX backend with Keras's augmentation layers (``augmentation.method: layers``),
side by side: the layers as Keras marks them (``supports_jit = False``: Keras then trains the whole
model eagerly, op by op) and as the workflow marks them (``convnet.learn.backend.compiled_on_jax``: the
training step compiled with ``jax.jit``).

Each measurement runs in its own process (Keras picks its backend once per process) on the same
random in-memory batch: one step to build and compile, then ``--steps`` timed steps. Printed per
experiment and marking: whether Keras compiles the step, the first step's seconds, and images per
second over the timed steps.

    .venv/bin/python benchmarks/jax_augmentation.py --experiments from_scratch_best --steps 5

This is not a test: it takes minutes and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "benchmarks"))

MARKINGS = ("keras", "workflow")


def measure(experiment: str, marking: str, steps: int, batch_size: int | None) -> dict:
    """In this process (KERAS_BACKEND=jax): train ``experiment``'s model for 1 + ``steps`` steps."""
    import keras
    import numpy as np

    import convnet.learn.augmentation
    from convnet.learn.compiling import compile_model
    from convnet.core.experiments import experiment_settings
    from convnet.learn.model import model_from_settings
    from convnet.core.settings import RunSettings
    from model_cost import load_config

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax (the parent process sets it)")
    if marking == "keras":  # the layers as Keras leaves them
        convnet.learn.augmentation.compiled_on_jax = lambda layers: layers
    settings = RunSettings.of(experiment_settings(load_config([]), experiment))
    if settings.augmentation is None or settings.augmentation.method != "layers":
        raise SystemExit(f"{experiment}: its augmentation is not method: layers; nothing to compare")
    batch = batch_size or settings.batch_size
    keras.utils.set_random_seed(1)
    model = compile_model(model_from_settings(settings, experiment), settings, 100)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (batch, *settings.image_size, 3)).astype("float32")
    labels = rng.integers(0, 2, (batch, 1)).astype("float32")
    started = time.perf_counter()
    model.train_on_batch(images, labels)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    timed = time.perf_counter() - started
    return {
        "experiment": experiment,
        "marking": marking,
        "compiled": bool(model.jit_compile),
        "first_step_s": round(first, 2),
        "images_per_s": round(steps * batch / timed, 2),
        "batch_size": batch,
        "image_size": list(settings.image_size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=["from_scratch_best"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps after the first")
    parser.add_argument("--batch-size", type=int, help="instead of the experiment's")
    parser.add_argument("--child", nargs=2, metavar=("EXPERIMENT", "MARKING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.batch_size)))
        return

    from convnet.core.runcard import cpu_model

    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    rows = []
    for experiment in args.experiments:
        for marking in MARKINGS:
            command = [sys.executable, __file__, "--child", experiment, marking, "--steps", str(args.steps)]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            proc = subprocess.run(command, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{experiment} ({marking}) failed:\n{proc.stderr[-2000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    import jax

    print(
        f"\nmachine: {cpu_model()}, {os.cpu_count()} CPUs; jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    print(f"{'experiment':<22} {'layers marked by':<17} {'compiled':>8} {'first step s':>12} {'images/s':>9}")
    for row in rows:
        print(
            f"{row['experiment']:<22} {row['marking']:<17} {str(row['compiled']):>8} "
            f"{row['first_step_s']:>12} {row['images_per_s']:>9}"
        )
    for experiment in args.experiments:
        speed = {row["marking"]: row["images_per_s"] for row in rows if row["experiment"] == experiment}
        print(f"{experiment}: compiled / eager = {speed['workflow'] / speed['keras']:.2f}")


if __name__ == "__main__":
    main()
