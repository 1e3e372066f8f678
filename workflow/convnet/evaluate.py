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
from .metrics import binary_metrics
from .records import CHECKPOINTS

log = logging.getLogger(__name__)


def predict(model_path: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{model_path}: cannot be loaded ({exc}); rerun its training") from None
    return model.predict(images, batch_size=batch_size, verbose=0).reshape(-1).astype(np.float64)


def evaluate_experiment(
    name: str,
    seed: int,
    models: dict[str, Path],
    test_cache: Path,
    metrics_json: Path,
    predictions_csv: Path,
    batch_size: int = 64,
) -> dict:
    """Metrics of each checkpoint (``last``, ``best``) on the test split, plus every prediction."""
    keras.config.set_dtype_policy("float32")
    test = load_image_set(test_cache)
    result = {
        "experiment": name,
        "seed": int(seed),
        "classes": list(test.classes),
        "positive_class": test.classes[1],
    }
    probabilities = {}
    for checkpoint in CHECKPOINTS:
        probabilities[checkpoint] = predict(models[checkpoint], test.images, batch_size)
        result[checkpoint] = binary_metrics(test.labels, probabilities[checkpoint])
        log.info(
            "%s seed %s %s: %s",
            name,
            seed,
            checkpoint,
            {k: v for k, v in result[checkpoint].items() if k != "confusion_matrix"},
        )
    atomic_write_text(metrics_json, json.dumps(result, indent=2) + "\n")
    atomic_write_table(
        predictions_csv,
        ["file", "label", *(f"probability_{c}" for c in CHECKPOINTS)],
        (
            [file, int(test.labels[i]), *(f"{probabilities[c][i]:.6f}" for c in CHECKPOINTS)]
            for i, file in enumerate(test.files)
        ),
    )
    return result
