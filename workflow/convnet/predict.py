"""Classify new photos with a trained model, reading them as the data step does and resizing them
as training did.

    python -m convnet.predict results/models/augmented/seed1.h5 my-photos/ [--out p.csv] [--sheet p.png]

(with ``workflow/`` on PYTHONPATH). The image size, resize interpolation and class names come from
the run card inside the model, here and in ``snakemake
results/predictions/{experiment}/seed{N}/{name}.csv`` for a folder or archive named in the
config's ``predict``. Every file gets a row:
its probability of each class and the predicted class, or, for a file that cannot be read as an
image, the reason.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .archive import open_image_source
from .cache import decode
from .errors import ConvnetError, DataError
from .files import atomic_write_table
from .images import reject_reason
from .metrics import class_probabilities, predicted_classes

log = logging.getLogger(__name__)


@dataclass
class Photo:
    file: str  # path inside the folder or archive
    image: np.ndarray | None  # (height, width, 3) uint8, None if unreadable
    reason: str = ""  # why it could not be read


def read_photos(source: Path, size: tuple[int, int], interpolation: str) -> list[Photo]:
    """Every file of a folder or zip/tar archive, checked as the data step checks (safe extraction,
    a full decode; JPEGs without a JFIF marker are fine here: cameras write Exif), turned upright
    by their EXIF orientation and resized."""
    photos = []
    with open_image_source(source) as images:
        for member in images.members():
            try:
                data = images.read(member.name)
            except DataError as exc:
                photos.append(Photo(member.name, None, str(exc).split(": ", 1)[-1]))
                continue
            reason = reject_reason(member.name, data, require_jfif=False)
            if reason is None:
                try:
                    photos.append(Photo(member.name, decode(io.BytesIO(data), size, interpolation)))
                    continue
                except (OSError, ValueError) as exc:
                    reason = f"not decodable: {exc}"
            photos.append(Photo(member.name, None, reason))
    return photos


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
    from .export import load_portable

    size, interpolation, classes = settings_from_card(model_path)
    model = load_portable(model_path)
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
    """Image size, resize interpolation and class names from the run card inside the model; a
    model without one (not made by this workflow) falls back to its input shape, nearest, and
    ``class 0``, ``class 1``, ... for its outputs."""
    from .runcard import RunCard

    card = RunCard.read(model_path)
    if card is not None:
        return card.image_size, card.resize_interpolation, card.classes
    from .export import load_portable

    model = load_portable(model_path)
    outputs = model.output_shape[-1]
    return tuple(model.input_shape[1:3]), "nearest", [f"class {i}" for i in range(2 if outputs == 1 else outputs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a .h5 model the workflow trained")
    parser.add_argument("photos", type=Path, help="a folder or zip/tar archive of photos")
    parser.add_argument("--out", type=Path, help="CSV to write (default: print it)")
    parser.add_argument("--sheet", type=Path, help="also draw a contact sheet of the photos and their labels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        photos, rows, classes = predict_photos(args.model, args.photos)
    except (ConvnetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_predictions(rows, args.out)
    else:
        print(",".join(rows[0]))
        for row in rows:
            print(",".join(str(v) for v in row.values()))
    if args.sheet:
        from . import plots

        plots.save_figure(plots.contact_sheet(photos, rows, classes, args.model.name), args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
