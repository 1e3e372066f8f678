"""Side-by-side training throughput: the book's ImageDataGenerator pipeline, the workflow's own
training path, and the compute ceiling of the same model, for the baseline and augmented settings
(or any experiment, e.g. ``--experiments augmented xception_small from_scratch_best``), beside the
machine's physical reference (the GEMM rate TensorFlow reaches here and the vector units' FMA peak,
``model_cost.py``) and the GFLOP/s each training reaches.

Every measurement runs in its own process (so precision policies and peak memory do not leak
between them) on the same data, one after the other, and the ratios are printed at the end.

    .venv/bin/python benchmarks/training_throughput.py --data ../shared/data/dogs-vs-cats-128px.zip

This is not a test: it takes minutes and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from convnet.core.experiments import cache_key, experiment_settings  # noqa: E402
from convnet.core.settings import RunSettings  # noqa: E402

# in-memory: the workflow's path as it was before issue 24 (benchmarks/in_memory.py), to compare
# today's reading of the cache from disk with it; not run unless asked for (--pipelines).
PIPELINES = ("book", "workflow", "ceiling", "in-memory")
DEFAULT_PIPELINES = ("book", "workflow", "ceiling")


from model_cost import TRAINING_STEP_FORWARDS, fma_peak_gflops, forward_flops, gemm_gflops, load_config  # noqa: E402


class Timer:
    """Keras callback factory: wall time of each epoch and of its validation part."""

    @staticmethod
    def make():
        import keras

        class EpochTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epochs, self.validation = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._start, self._val = time.perf_counter(), 0.0

            def on_test_begin(self, logs=None):
                self._val_start = time.perf_counter()

            def on_test_end(self, logs=None):
                self._val += time.perf_counter() - self._val_start

            def on_epoch_end(self, epoch, logs=None):
                self.epochs.append(time.perf_counter() - self._start)
                self.validation.append(self._val)

        return EpochTimer()


def book_model():
    """The book's model as listed in 5.2 (rescaling happens in the generator)."""
    import keras
    from keras import layers

    def build(dropout, input_shape):
        model = keras.Sequential([keras.Input(input_shape)])
        for filters in (32, 64, 128, 128):
            model.add(layers.Conv2D(filters, 3, activation="relu"))
            model.add(layers.MaxPooling2D(2))
        model.add(layers.Flatten())
        if dropout:
            model.add(layers.Dropout(dropout))
        model.add(layers.Dense(512, activation="relu"))
        model.add(layers.Dense(1, activation="sigmoid"))
        return model

    return build


def training_images(config: dict) -> int:
    """Training images per epoch: data.split.train of each class."""
    return config["data"]["split"]["train"] * len(config["data"]["classes"])


def run_one(
    pipeline: str, experiment: str, config: dict, data_dir: Path, cache_dir: Path, epochs: int, precision: str
) -> dict:
    import keras

    from convnet.learn.backend import configure

    mapping = experiment_settings(config, experiment)
    settings = RunSettings.of(mapping)
    batch = settings.batch_size
    steps = settings.steps_per_epoch or math.ceil(training_images(config) / batch)
    validation_steps = math.ceil(config["data"]["split"]["validation"] * len(config["data"]["classes"]) / 20)
    timer = Timer.make()
    chosen = "float32" if pipeline == "book" else precision
    chosen = configure(chosen, threads=os.cpu_count(), deterministic=False, seed=1)
    keras.config.set_dtype_policy(chosen)  # a process of its own: every model it builds is measured so

    if pipeline == "book":
        from tensorflow.keras.preprocessing.image import ImageDataGenerator

        from augmentation_sharpness import image_data_generator_arguments

        size = settings.image_size
        train_gen = ImageDataGenerator(
            rescale=1.0 / 255, **image_data_generator_arguments(settings.augmentation)
        ).flow_from_directory(data_dir / "train", target_size=size, batch_size=batch, class_mode="binary")
        val_gen = ImageDataGenerator(rescale=1.0 / 255).flow_from_directory(
            data_dir / "validation", target_size=size, batch_size=20, class_mode="binary"
        )
        model = book_model()(settings.dropout, (*size, 3))
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=settings.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(
            train_gen,
            steps_per_epoch=steps,
            epochs=epochs,
            validation_data=val_gen,
            validation_steps=validation_steps,
            callbacks=[timer],
            verbose=0,
        )
    elif pipeline in ("workflow", "in-memory"):
        from convnet.arrays.cache import load_image_set
        from convnet.learn.model import model_from_settings
        from convnet.learn.pipeline import fit_arguments
        from convnet.learn.compiling import compile_model

        if pipeline == "in-memory":
            from in_memory import load_in_memory, use_in_memory_pipeline

            use_in_memory_pipeline()
            load_image_set = load_in_memory
        train = load_image_set(cache_dir / cache_key(mapping) / "train.npz")
        validation = load_image_set(cache_dir / cache_key(mapping) / "validation.npz")
        model = compile_model(model_from_settings(settings), settings)
        arguments = fit_arguments(train, validation, batch, settings.steps_per_epoch, seed=1, epochs=epochs)
        model.fit(**arguments, epochs=epochs, callbacks=[timer], verbose=0)
    else:
        import numpy as np

        from convnet.learn.model import model_from_settings
        from convnet.learn.compiling import compile_model

        # Compute only: one random batch, already a tensor, fed again and again: no augmentation,
        # no validation, no input pipeline to wait for.
        import tensorflow as tf

        from convnet.arrays.cache import load_image_set

        model = compile_model(model_from_settings(settings.replace(augmentation=None)), settings, steps)
        from convnet.learn.pipeline import batch_plan

        # Every training image already in memory as one tensor, each step's batch gathered from it
        # in the workflow's own order. (One batch fed again and again read below the workflow:
        # 31.4 against 34.8 images/s for from_scratch_best, docs/performance.md.)
        train = load_image_set(cache_dir / cache_key(mapping) / "train.npz")
        images = tf.constant(np.asarray(train.images[0 : len(train)]))
        labels = tf.constant(train.labels.astype("float32"))
        plan = batch_plan(len(train), batch, steps, seed=1, epochs=epochs)  # full batches only
        order = tf.constant(np.stack([b for epoch in plan for b in epoch]))
        dataset = tf.data.Dataset.from_tensor_slices(order).map(
            lambda index: (tf.gather(images, index), tf.gather(labels, index))
        )
        model.fit(dataset.prefetch(2), steps_per_epoch=steps, epochs=epochs, callbacks=[timer], verbose=0)

    train_seconds = [e - v for e, v in zip(timer.epochs, timer.validation)]
    steady = train_seconds[1:] or train_seconds  # the first epoch includes tracing and warm-up
    # a ceiling is a maximum: its fastest epoch; a pipeline's rate is its typical (median) epoch
    typical = min(steady) if pipeline == "ceiling" else statistics.median(steady)
    return {
        "pipeline": pipeline,
        "experiment": experiment,
        "precision": chosen,
        "samples_per_epoch": batch * steps,
        "epoch_seconds": timer.epochs,
        "median_epoch_s": statistics.median(timer.epochs[1:] or timer.epochs),
        "max_epoch_s": max(timer.epochs[1:] or timer.epochs),
        "images_per_s": batch * steps / typical,
        "train_gflop_per_image": TRAINING_STEP_FORWARDS * forward_flops(model) / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def prepare(data: Path, work: Path, config: dict, experiments: list[str]) -> tuple[Path, Path]:
    """Split the archive as the workflow does and decode each experiment's caches once."""
    from convnet.arrays.cache import write_image_cache
    from convnet.data.prepare import prepare_dataset

    data_dir, cache_dir = work / "data", work / "cache"
    prepare_dataset(data, data_dir, dict(config["data"], source="local"), threads=os.cpu_count())
    caches = {cache_key(s): s for s in (experiment_settings(config, name) for name in experiments)}
    for key, settings in caches.items():
        for split in ("train", "validation"):
            write_image_cache(
                cache_dir / key / f"{split}.npz",
                data_dir,
                data_dir / "manifest.csv",
                split,
                tuple(settings["image_size"]),
                list(config["data"]["classes"]),
                threads=os.cpu_count(),
                interpolation=settings["resize_interpolation"],
            )
    return data_dir, cache_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/dogs-vs-cats-128px.zip")
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="epochs per measurement; the first is warm-up. The ceiling is the fastest of the others",
    )
    parser.add_argument("--experiments", nargs="+", default=["baseline", "augmented"])
    parser.add_argument(
        "--configfile",
        type=Path,
        action="append",
        default=[],
        help="a config layered over config/config.yaml (as snakemake --configfile), e.g. to add experiments",
    )
    parser.add_argument("--pipelines", nargs="+", default=list(DEFAULT_PIPELINES), choices=PIPELINES)
    parser.add_argument(
        "--precision", default="auto", help="workflow and ceiling precision (the book: float32)"
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--one", nargs=4, metavar=("PIPELINE", "EXPERIMENT", "DATA_DIR", "CACHE_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    config = load_config(args.configfile)
    if args.one:
        pipeline, experiment, data_dir, cache_dir = args.one
        result = run_one(
            pipeline, experiment, config, Path(data_dir), Path(cache_dir), args.epochs, args.precision
        )
        print("RESULT " + json.dumps(result))
        return

    import keras

    with tempfile.TemporaryDirectory(prefix="convnet-bench-") as tmp:
        data_dir, cache_dir = prepare(args.data, Path(tmp), config, args.experiments)
        results = []
        for experiment in args.experiments:
            for pipeline in args.pipelines:
                if (
                    pipeline == "book"
                    and experiment_settings(config, experiment).get("architecture", "convnet") != "convnet"
                ):
                    continue  # the book's pipeline trains the book's model only
                command = [
                    sys.executable,
                    __file__,
                    "--epochs",
                    str(args.epochs),
                    "--precision",
                    args.precision,
                    *[f"--configfile={path.resolve()}" for path in args.configfile],
                    "--one",
                    pipeline,
                    experiment,
                    str(data_dir),
                    str(cache_dir),
                ]
                proc = subprocess.run(
                    command, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
                )
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not line:
                    sys.exit(f"{pipeline}/{experiment} failed:\n{proc.stderr[-3000:]}")
                results.append(json.loads(line[0][7:]))
                r = results[-1]
                print(f"  {experiment:9} {pipeline:8} {r['images_per_s']:7.1f} img/s", file=sys.stderr)

    import tensorflow as tf

    from convnet.learn.backend import cpu_flags
    from convnet.core.runcard import cpu_model

    model_name = cpu_model()
    extensions = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}) or ["none listed"]
    print(
        f"machine: {model_name}, {os.cpu_count()} cores, {', '.join(extensions)}; "
        f"python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}; "
        f"{args.epochs} epochs per run, the first one left out of the medians as warm-up"
    )
    header = (
        f"{'experiment':17} {'pipeline':9} {'precision':15} {'img/s':>7} {'GFLOP/s':>8} {'s/epoch med':>11}"
    )
    header += f" {'max':>6} {'peak MB':>8}"
    print(header)
    for r in results:
        print(
            f"{r['experiment']:17} {r['pipeline']:9} {r['precision']:15} {r['images_per_s']:7.1f} "
            f"{r['images_per_s'] * r['train_gflop_per_image']:8.1f} "
            f"{r['median_epoch_s']:11.1f} {r['max_epoch_s']:6.1f} {r['peak_rss_mb']:8.0f}"
        )
    peak, how = fma_peak_gflops()
    print(f"physical reference: FMA peak {peak:.0f} GFLOP/s float32 ({how})")
    for dtype in ("float32", "bfloat16"):
        print(f"physical reference: GEMM 2048x2048 in TensorFlow, {dtype}: {gemm_gflops(dtype):.0f} GFLOP/s")
    print("(GFLOP/s: images/s x the model's multiply-add FLOPs of a training step, 3 forward passes)")
    by = {(r["experiment"], r["pipeline"]): r for r in results}
    for experiment in args.experiments:
        book, flow, ceiling, before = (by.get((experiment, p)) for p in PIPELINES)
        if book and flow:
            print(f"{experiment}: workflow / book = {flow['images_per_s'] / book['images_per_s']:.2f}x")
        if flow and ceiling:
            print(f"{experiment}: workflow / ceiling = {flow['images_per_s'] / ceiling['images_per_s']:.2f}")
        if before and ceiling:
            ratio = before["images_per_s"] / ceiling["images_per_s"]
            print(f"{experiment}: in-memory (before issue 24) / ceiling = {ratio:.2f}")
        if flow and before:
            ratio = flow["images_per_s"] / before["images_per_s"]
            print(f"{experiment}: workflow / in-memory = {ratio:.3f}")
        if flow:
            stall = flow["max_epoch_s"] / flow["median_epoch_s"]
            print(f"{experiment}: slowest / median epoch (workflow) = {stall:.2f}")
    if ("baseline", "workflow") in by and ("augmented", "workflow") in by:
        cost = (
            by[("baseline", "workflow")]["images_per_s"] / by[("augmented", "workflow")]["images_per_s"] - 1
        )
        print(f"augmentation costs the workflow {100 * cost:.0f}% of the baseline's throughput")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
