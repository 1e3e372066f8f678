"""How sharp are the images the augmented model trains on, next to the ones it is judged on?

With ``augmentation.method: layers`` the workflow augments with one Keras 3 layer per
transformation (rotation, shift, shear, zoom), so every training image is resampled four times,
bilinearly; the book's ImageDataGenerator folds the same transformations into one matrix and
resamples once (Keras 2.0.8: nearest neighbour; TensorFlow's legacy copy of it: bilinear), and so
does the workflow's default ``method: affine``. Each bilinear resample blurs a little, so the
methods can train on differently sharp images while validation and test images are never resampled.

Sharpness here is the mean absolute difference between neighbouring grey pixels, in the middle 60%
of the image (away from the filled borders). Validation images blurred with a Gaussian of known
width give the scale. With ``--models``, saved models are also scored on validation and test images
blurred by those widths: a model that does better on blurred images learned on blurrier ones.

    PYTHONPATH=workflow .venv/bin/python benchmarks/augmentation_sharpness.py --results results \\
        --models augmented/seed1.h5 augmented/seed1_best.h5 baseline/seed1.h5

Needs the image caches (and models) of a finished run and TensorFlow (for the book's generator).
This is a diagnostic, not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from scipy import ndimage  # noqa: E402

from convnet.arrays.cache import load_image_set  # noqa: E402
from convnet.core.experiments import cache_key, experiment_settings  # noqa: E402
from convnet.core.settings import Augmentation  # noqa: E402

BLUR_SIGMAS = (0.5, 0.75, 1.0)


def sharpness(images: np.ndarray) -> float:
    """Mean absolute neighbour difference of the grey image, middle 60% only."""
    grey = images.astype(np.float64).mean(axis=-1)
    height, width = grey.shape[1:]
    middle = grey[:, height // 5 : height - height // 5, width // 5 : width - width // 5]
    return float((np.abs(np.diff(middle, axis=1)).mean() + np.abs(np.diff(middle, axis=2)).mean()) / 2)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    if not sigma:
        return images.astype(np.float32)
    return ndimage.gaussian_filter(images.astype(np.float32), (0, sigma, sigma, 0))


def workflow_augment(images: np.ndarray, spec: dict, seed: int) -> np.ndarray:
    """The workflow's augmentation as ``spec`` sets it up (its ``method``), in training mode."""
    import keras

    from convnet.learn.augmentation import augmentation_layers

    stack = keras.Sequential(augmentation_layers(spec, seed))
    batches = [stack(images[i : i + 50].astype("float32"), training=True) for i in range(0, len(images), 50)]
    return np.concatenate([keras.ops.convert_to_numpy(batch) for batch in batches])


def image_data_generator_arguments(spec: Augmentation | dict | None) -> dict:
    """Keyword arguments for TensorFlow's legacy ``ImageDataGenerator`` (the book's pipeline, as
    the benchmarks run it) that draw what ``spec`` asks for. Its ``shear_range`` is in degrees,
    where Keras 2.0.8's was in radians; it interpolates bilinearly (2.0.8: nearest)."""
    spec = Augmentation.of(spec) or Augmentation(horizontal_flip=False)
    return {
        "rotation_range": spec.rotation_degrees,
        "width_shift_range": spec.width_shift,
        "height_shift_range": spec.height_shift,
        "shear_range": math.degrees(spec.shear_radians),
        "zoom_range": spec.zoom,
        "horizontal_flip": spec.horizontal_flip,
        "vertical_flip": spec.vertical_flip,
        "fill_mode": spec.fill_mode,
    }


def book_generator_augment(images: np.ndarray, spec: dict, seed: int) -> np.ndarray:
    """The book's augmentation: ImageDataGenerator with the same settings, one resample per image."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(**image_data_generator_arguments(spec))
    return np.stack(
        [generator.random_transform(image.astype("float32"), seed=seed + i) for i, image in enumerate(images)]
    )


def score(model, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    probability = np.clip(
        model.predict(images, batch_size=100, verbose=0)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7
    )
    accuracy = float(((probability > 0.5) == (labels > 0.5)).mean())
    loss = float(-np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)))
    return accuracy, loss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--experiment", default="augmented")
    parser.add_argument("--images", type=int, default=300, help="images per measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=[], help="model files under RESULTS/models")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

    settings = experiment_settings(yaml.safe_load(args.config.read_text()), args.experiment)
    spec = settings["augmentation"]  # the config's mapping: workflow_augment varies its method
    if not spec:
        parser.error(f"experiments.{args.experiment} in {args.config} has no augmentation")
    cache = args.results / "cache" / cache_key(settings)
    train, validation = (load_image_set(cache / f"{split}.npz") for split in ("train", "validation"))
    x_train, x_validation = train.images[: args.images], validation.images[: args.images]

    rows = [
        ("validation images, as stored", sharpness(x_validation)),
        ("training images, as stored", sharpness(x_train)),
        (
            "training, the workflow's affine layer (method affine, nearest)",
            sharpness(
                workflow_augment(x_train, dict(spec, method="affine", interpolation="nearest"), args.seed)
            ),
        ),
        (
            "training, Keras 3 layers (method layers, bilinear)",
            sharpness(
                workflow_augment(x_train, dict(spec, method="layers", interpolation="bilinear"), args.seed)
            ),
        ),
        (
            "training, TensorFlow's legacy ImageDataGenerator (bilinear)",
            sharpness(book_generator_augment(x_train, spec, args.seed)),
        ),
    ]
    rows += [
        (f"validation, Gaussian blur sigma {s} px", sharpness(gaussian_blur(x_validation, s)))
        for s in BLUR_SIGMAS
    ]
    reference = rows[0][1]
    print(f"| images ({args.images}) | sharpness | vs validation |\n| --- | --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value:.2f} | {value / reference:.2f} |")

    if args.models:
        import keras

        test = load_image_set(cache / "test.npz")
        sigmas = (0.0, *BLUR_SIGMAS)
        print("\n| model | split | " + " | ".join(f"blur {s}: acc / loss" for s in sigmas) + " |")
        print("| --- | --- |" + " --- |" * len(sigmas))
        for name in args.models:
            model = keras.models.load_model(args.results / "models" / name, compile=False)
            for split, image_set in (("validation", validation), ("test", test)):
                images = np.asarray(image_set.images)  # the whole split, on purpose: it is blurred whole
                cells = [score(model, gaussian_blur(images, s), image_set.labels) for s in sigmas]
                print(
                    f"| {name} | {split} | " + " | ".join(f"{a:.3f} / {loss:.3f}" for a, loss in cells) + " |"
                )


if __name__ == "__main__":
    main()
