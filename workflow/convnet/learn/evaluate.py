"""Evaluate a run's saved models on the test split (Keras lives here; the tables over runs are in
``convnet.core.tables``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from ..arrays.cache import load_image_set
from .export import load_portable
from ..core.files import atomic_write_table, atomic_write_text
from ..arrays.metrics import class_probabilities, classification_metrics
from ..core.records import CHECKPOINTS, TTA_SUFFIX, prediction_columns

log = logging.getLogger(__name__)


def predict(model: keras.Model, images, batch_size: int, mirrored: bool = False) -> np.ndarray:
    """(images, classes) probabilities of a model; ``images`` (a cache's, on disk, or an array)
    are read ``batch_size`` at a time; ``mirrored``: each image flipped left to right."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size])
        if mirrored:
            batch = batch[:, :, ::-1, :]
        outputs.append(keras.ops.convert_to_numpy(model.predict_on_batch(batch)))
    return class_probabilities(np.concatenate(outputs))


def evaluate_experiment(
    name: str,
    seed: int,
    models: dict[str, Path],
    test_cache: Path,
    metrics_json: Path,
    predictions_csv: Path,
    batch_size: int = 64,
    test_time_augmentation: bool = False,
) -> dict:
    """Metrics of each checkpoint (``last``, ``best``) on the test split, plus every prediction
    (``records.prediction_columns``); with ``test_time_augmentation`` also those of the mean of
    each image's and its mirror's probabilities (``last_tta``, ``best_tta``), in the same read of
    the test set."""
    test = load_image_set(test_cache)
    result = {
        "experiment": name,
        "seed": int(seed),
        "classes": list(test.classes),
        # two classes: precision, recall and ROC AUC are the second class's (the book's dogs)
        "positive_class": test.classes[1] if len(test.classes) == 2 else None,
    }
    probabilities = {}
    if test_time_augmentation:
        result["test_time_augmentation"] = "mean of the image and its horizontal mirror"
    for checkpoint in CHECKPOINTS:
        model = load_portable(models[checkpoint])
        probabilities[checkpoint] = predict(model, test.images, batch_size)
        scored = {checkpoint: probabilities[checkpoint]}
        if test_time_augmentation:
            mirrored = predict(model, test.images, batch_size, mirrored=True)
            scored[checkpoint + TTA_SUFFIX] = (probabilities[checkpoint] + mirrored) / 2
        for key, values in scored.items():
            result[key] = classification_metrics(test.labels, values, test.classes)
            log.info(
                "%s seed %s %s: %s",
                name,
                seed,
                key,
                {k: v for k, v in result[key].items() if not isinstance(v, (list, dict))},
            )
    atomic_write_text(metrics_json, json.dumps(result, indent=2) + "\n")
    two = len(test.classes) == 2

    def values(i: int) -> list[str]:
        # two classes: the probability of the second, as always; more: every class's
        rows = (probabilities[c][i, 1:] if two else probabilities[c][i] for c in CHECKPOINTS)
        return [f"{p:.6f}" for row in rows for p in row]

    atomic_write_table(
        predictions_csv,
        prediction_columns(test.classes),
        ([file, int(test.labels[i]), *values(i)] for i, file in enumerate(test.files)),
    )
    return result
