"""Peak memory of the cache step and of one training job against the number of training images.

Writes synthetic 150x150 JPEG photos (two classes; by default 2,000 and 20,000 training images,
1,000 validation images for both), decodes each training split into a cache as the workflow's
cache step does, and trains the book's baseline convnet on it for two epochs through the
workflow's own training function. Every step runs in its own process, one after the other, and
reports its peak resident memory (ru_maxrss) and wall time; the table comes at the end.

    .venv/bin/python benchmarks/training_memory.py                # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/training_memory.py --before       # also the in-memory path of before

``--before`` adds the training input as it was up to issue 24 (benchmarks/in_memory.py: the
split decoded whole into memory, one TensorFlow constant). This is not a test: the figures depend
on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

CLASSES = ["cats", "dogs"]
SIZE = 150


def write_photos(data_dir: Path, split: str, count: int) -> None:
    """``count`` synthetic JPEGs (half per class) under ``data_dir/split/<class>/`` and their rows
    in ``data_dir/<split>.csv`` (the workflow's manifest columns that the cache step reads)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(len(split) * 1000 + count)
    rows = []
    base = np.linspace(0, 255, SIZE, dtype=np.float32)
    for index in range(count):
        label = CLASSES[index % 2]
        folder = data_dir / split / label
        folder.mkdir(parents=True, exist_ok=True)
        # a gradient, tinted by class, with noise: compresses like a photo, not like a flat colour
        pixels = np.stack([np.add.outer(base, base) / 2] * 3, axis=-1)
        pixels[..., 2 if label == "dogs" else 0] += 60
        pixels += rng.normal(0, 25, pixels.shape)
        name = f"{split}/{label}/{label}.{index}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(data_dir / name, quality=90)
        rows.append({"file": name, "split": split, "class": label})
    with open(data_dir / f"{split}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "split", "class"])
        writer.writeheader()
        writer.writerows(rows)


def cache_step(data_dir: Path, split: str, cache: Path) -> dict:
    from convnet.arrays.cache import write_image_cache

    count = write_image_cache(
        cache, data_dir, data_dir / f"{split}.csv", split, (SIZE, SIZE), CLASSES, threads=os.cpu_count()
    )
    return {"images": count}


def training_job(train_cache: Path, validation_cache: Path, out: Path, before: bool) -> dict:
    import yaml

    from convnet.core.experiments import run_settings
    from convnet.learn.train import RunPaths, train_experiment

    if before:
        from in_memory import use_in_memory_pipeline

        use_in_memory_pipeline()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    settings = run_settings(config, "baseline", 1)
    settings.update(epochs=2, expect=None)
    paths = RunPaths(
        train_cache=train_cache,
        validation_cache=validation_cache,
        last_model=out / "last.h5",
        best_model=out / "best.h5",
        history=out / "history.csv",
        checkpoint=out / "checkpoint",
    )
    history = train_experiment("baseline", settings, paths, threads=os.cpu_count())
    return {"epochs": len(history), "val_accuracy": float(history[-1]["val_accuracy"])}


def measured(step: str, *args: str) -> dict:
    """Run one step in a fresh process; its own peak RSS and wall time."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--step", step, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{step} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(lines[0][7:]), seconds=round(time.perf_counter() - start, 1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 20000], help="training images")
    parser.add_argument("--validation", type=int, default=1000, help="validation images")
    parser.add_argument(
        "--before", action="store_true", help="also train through the in-memory path of before"
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()

    if args.step:
        if args.step == "cache":
            result = cache_step(Path(rest[0]), rest[1], Path(rest[2]))
        else:
            result = training_job(
                Path(rest[0]), Path(rest[1]), Path(rest[2]), before=args.step == "train-before"
            )
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print("RESULT " + json.dumps(result))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="convnet-memory-") as tmp:
        work = Path(tmp)
        write_photos(work / "photos", "validation", args.validation)
        validation = work / "validation.npz"
        results.append(
            {
                "step": "cache",
                "split": "validation",
                **measured("cache", str(work / "photos"), "validation", str(validation)),
            }
        )
        for count in args.counts:
            data_dir = work / f"photos-{count}"
            write_photos(data_dir, "train", count)
            cache = work / f"train-{count}.npz"
            results.append(
                {
                    "step": "cache",
                    "split": f"train ({count})",
                    **measured("cache", str(data_dir), "train", str(cache)),
                }
            )
            for step in ("train", "train-before") if args.before else ("train",):
                run = measured(step, str(cache), str(validation), str(work / f"{step}-{count}"))
                results.append({"step": step, "split": f"train ({count})", **run})
            print(f"  {count} training images done", file=sys.stderr)

    from convnet.learn.backend import cpu_flags
    from convnet.core.runcard import cpu_model

    model_name = cpu_model()
    extensions = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}) or ["none listed"]
    print(
        f"machine: {model_name}, {os.cpu_count()} cores, {', '.join(extensions)}; python {platform.python_version()}"
    )
    print(f"{'step':13} {'images':16} {'peak MB':>8} {'seconds':>8}")
    for r in results:
        print(f"{r['step']:13} {r['split']:16} {r['peak_rss_mb']:8} {r['seconds']:8}")
    peaks = {(r["step"], r["split"]): r["peak_rss_mb"] for r in results}
    low, high = min(args.counts), max(args.counts)
    for step in ("cache", "train", "train-before"):
        a, b = peaks.get((step, f"train ({low})")), peaks.get((step, f"train ({high})"))
        if a is not None and b is not None:
            print(f"{step}: peak RSS at {high} minus at {low} training images = {b - a} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
