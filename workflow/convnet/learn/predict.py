"""Classify new photos with a trained model, reading them as the data step does and resizing them
as training did: the image size, resize interpolation and class names come from the run card
inside the model. Every file gets a row: its probability of each class and the predicted class,
or, for a file that cannot be read as an image, the reason. ``python -m convnet.predict`` is the
command line for it; ``results/predictions/{experiment}/seed{N}/{name}.csv`` the rule's output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ..core.files import atomic_write_table
from ..arrays.metrics import class_probabilities, predicted_classes
from ..arrays.photos import Photo, read_photos

log = logging.getLogger(__name__)


def classify(model, photos: list[Photo], num_classes: int, batch_size: int = 32) -> np.ndarray:
    """Each readable photo's probability of each class, (photos, classes); NaN for the others."""
    probabilities = np.full((len(photos), num_classes), np.nan)
    readable = [i for i, photo in enumerate(photos) if photo.image is not None]
    if readable:
        images = np.stack([photos[i].image for i in readable])
        probabilities[readable] = class_probabilities(model.predict(images, batch_size=batch_size, verbose=0))
    return probabilities


def prediction_rows(photos: list[Photo], probabilities: np.ndarray, classes: list[str]) -> list[dict]:
    """A row per file: the probability of each class and the predicted class, or the reason."""
    rows = []
    for photo, p in zip(photos, probabilities):
        row = {"file": photo.file, **{f"probability_{c}": "" for c in classes}, "predicted": ""}
        if photo.image is not None:
            row.update({f"probability_{c}": f"{value:.6f}" for c, value in zip(classes, p)})
            row["predicted"] = classes[int(predicted_classes(p[None, :])[0])]
        rows.append({**row, "reason": photo.reason})
    return rows


def predict_photos(model_path: Path, source: Path) -> tuple[list[Photo], list[dict], list[str]]:
    """Classify every file of ``source`` with the model; image size, resize and class names from
    its run card (``settings_from_card``). Returns the photos, their rows and the classes."""
    from .export import load_classifier

    size, interpolation, classes = settings_from_card(model_path)
    model = load_classifier(model_path)
    photos = read_photos(source, size, interpolation)
    if not photos:
        raise DataError(f"{source}: holds no files; point it at a folder or archive of photos")
    rows = prediction_rows(photos, classify(model, photos, len(classes)), classes)
    unreadable = sum(photo.image is None for photo in photos)
    log.info("%s: %d photos classified, %d could not be read", source, len(photos) - unreadable, unreadable)
    return photos, rows, classes


def write_predictions(rows: list[dict], path: Path) -> None:
    atomic_write_table(path, list(rows[0]), rows)


def settings_from_card(model_path: Path) -> tuple[tuple[int, int], str, list[str]]:
    """Image size, resize interpolation and class names from the run card inside the model (.h5,
    .keras or an exported .onnx); a Keras model without one (not made by this workflow) falls back
    to its input shape, nearest, and ``class 0``, ``class 1``, ... for its outputs."""
    from .export import card_of, load_portable

    card = card_of(model_path)
    if card is not None:
        return card.image_size, card.resize_interpolation, card.classes
    if Path(model_path).suffix == ".onnx":
        raise DataError(f"{model_path}: holds no run card; export it with the workflow's export rule")
    model = load_portable(model_path)
    outputs = model.output_shape[-1]
    return (
        tuple(model.input_shape[1:3]),
        "nearest",
        [f"class {i}" for i in range(2 if outputs == 1 else outputs)],
    )
