"""Classify new photos with a model the workflow saved or exported, outside Snakemake:

    PYTHONPATH=workflow .venv/bin/python -m convnet.predict results/models/augmented/seed1.keras my-photos/ \
        [--out p.csv] [--sheet p.png] [--no-heatmaps]

The model: an ``.h5`` or ``.keras`` file of results/models/, or an exported ``model.onnx`` of
results/exports/ (run by ONNX Runtime). The image size, resize interpolation and class names come
from the run card inside it (``convnet.learn.predict``); ``--sheet`` also draws a contact sheet
(``convnet.report.plots``), with where a Keras model looked (Grad-CAM, ``convnet.learn.explain``).
A command line for a full environment, so it may use every layer of the package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .core.errors import ConvnetError
from .learn.predict import predict_photos, write_predictions


def sheet_heatmaps(model_path: Path, photos, rows, classes) -> dict | None:
    """The sheet's Grad-CAM heatmaps by file, for the label each photo got; None for an ONNX model."""
    if model_path.suffix == ".onnx":
        return None
    from .learn import explain
    from .learn.export import load_portable

    return explain.sheet_heatmaps(load_portable(model_path), photos, rows, classes)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "model", type=Path, help="a .h5 or .keras model the workflow trained, or its exported .onnx"
    )
    parser.add_argument("photos", type=Path, help="a folder or zip/tar archive of photos")
    parser.add_argument("--out", type=Path, help="CSV to write (default: print it)")
    parser.add_argument("--sheet", type=Path, help="also draw a contact sheet of the photos and their labels")
    parser.add_argument(
        "--no-heatmaps",
        dest="heatmaps",
        action="store_false",
        help="draw the sheet without Grad-CAM heatmaps (an .onnx model has none: no gradients)",
    )
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
        from .report import plots

        heatmaps = sheet_heatmaps(args.model, photos, rows, classes) if args.heatmaps else None
        plots.save_figure(plots.contact_sheet(photos, rows, classes, args.model.name, heatmaps), args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
