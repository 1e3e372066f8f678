"""Validation accuracy of saved models as saved, and with their batch-normalization statistics
recomputed for their weights (``benchmarks/batch_norm.py``): tells weights that are fine from moving
statistics that lag them. Reads the training and validation splits of an image cache, never the
test split.

    .venv/bin/python benchmarks/batch_norm_statistics.py --cache results/cache/180x180-bilinear \\
        results/models/xception_small/seed1.h5 results/models/xception_small/seed1_best.h5

This is not a test: it takes about a minute per model on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

import numpy as np  # noqa: E402

from batch_norm import recompute_statistics  # noqa: E402
from convnet.arrays.cache import load_image_set  # noqa: E402
from convnet.learn.evaluate import predict  # noqa: E402
from convnet.learn.export import load_portable  # noqa: E402


def accuracy(model, image_set, batch_size: int = 64) -> float:
    return float((predict(model, image_set.images, batch_size).argmax(axis=1) == image_set.labels).mean())


def compare(model_path: Path, train, validation, batch_size: int = 50, seed: int = 0) -> dict:
    """Validation accuracy of one saved model before and after the recomputation."""
    model = load_portable(model_path)
    before = accuracy(model, validation)
    batches = recompute_statistics(model, train.images, batch_size, seed)
    return {
        "model": str(model_path),
        "saved": before,
        "recomputed": accuracy(model, validation),
        "batches": batches,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", type=Path, help="models the workflow saved (.h5)")
    parser.add_argument("--cache", type=Path, required=True, help="folder with train.npz and validation.npz")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="order of the training images")
    args = parser.parse_args(argv)
    train = load_image_set(args.cache / "train.npz")
    validation = load_image_set(args.cache / "validation.npz")
    rows = [compare(path, train, validation, args.batch_size, args.seed) for path in args.models]
    print(f"{'model':60} {'val acc as saved':>17} {'recomputed':>11}  batches")
    for row in rows:
        print(f"{row['model']:60} {row['saved']:17.3f} {row['recomputed']:11.3f}  {row['batches']}")
    print(
        f"({len(train)} training images, {len(validation)} validation images, {np.unique(train.labels).size} classes)"
    )
    return rows


if __name__ == "__main__":
    main()
