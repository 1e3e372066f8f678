"""Classify new photos with a model the workflow saved, outside Snakemake:

    PYTHONPATH=workflow .venv/bin/python -m convnet.predict results/models/augmented/seed1.h5 my-photos/ \
        [--out p.csv] [--sheet p.png]

The image size, resize interpolation and class names come from the run card inside the model
(``convnet.learn.predict``); ``--sheet`` also draws a contact sheet (``convnet.report.plots``). A
command line for a full environment, so it may use every layer of the package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .core.errors import ConvnetError
from .learn.predict import predict_photos, write_predictions


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
        from .report import plots

        plots.save_figure(plots.contact_sheet(photos, rows, classes, args.model.name), args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
