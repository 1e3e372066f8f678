"""Evaluate a run's saved models on the test split (Keras lives here; the tables over runs are in
``convnet.tables``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from .cache import load_image_set
from .errors import DataError
from .files import atomic_write_table, atomic_write_text
from .metrics import class_probabilities, classification_metrics
from .records import CHECKPOINTS, prediction_columns

log = logging.getLogger(__name__)


def predict(model_path: Path, images, batch_size: int) -> np.ndarray:
    """(images, classes) probabilities of a saved model; ``images`` (a cache's, on disk, or an
    array) are read ``batch_size`` at a time."""
    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{model_path}: cannot be loaded ({exc}); rerun its training") from None
    outputs = [
        keras.ops.convert_to_numpy(model.predict_on_batch(images[start : start + batch_size]))
        for start in range(0, len(images), batch_size)
    ]
    return class_probabilities(np.concatenate(outputs))


def evaluate_experiment(
    name: str,
    seed: int,
    models: dict[str, Path],
    test_cache: Path,
    metrics_json: Path,
    predictions_csv: Path,
    batch_size: int = 64,
) -> dict:
    """Metrics of each checkpoint (``last``, ``best``) on the test split, plus every prediction
    (``records.prediction_columns``)."""
    keras.config.set_dtype_policy("float32")
    test = load_image_set(test_cache)
    result = {
        "experiment": name,
        "seed": int(seed),
        "classes": list(test.classes),
        # two classes: precision, recall and ROC AUC are the second class's (the book's dogs)
        "positive_class": test.classes[1] if len(test.classes) == 2 else None,
    }
    probabilities = {}
    for checkpoint in CHECKPOINTS:
        probabilities[checkpoint] = predict(models[checkpoint], test.images, batch_size)
        result[checkpoint] = classification_metrics(test.labels, probabilities[checkpoint], test.classes)
        log.info(
            "%s seed %s %s: %s",
            name,
            seed,
            checkpoint,
            {k: v for k, v in result[checkpoint].items() if not isinstance(v, (list, dict))},
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
