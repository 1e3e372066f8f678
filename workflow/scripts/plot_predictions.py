"""Snakemake script: a contact sheet of new photos with the labels a run's model gave them."""

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet import plots
from convnet.logs import run_logged
from convnet.predict import read_photos


def main(sm) -> None:
    with open(sm.input.predictions, newline="") as handle:
        rows = list(csv.DictReader(handle))
    photos = read_photos(Path(sm.input.photos), tuple(sm.params.image_size), sm.params.interpolation)
    by_file = {row["file"]: row for row in rows}
    figure = plots.contact_sheet(
        photos, [by_file[p.file] for p in photos], list(sm.params.classes), sm.params.title
    )
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
