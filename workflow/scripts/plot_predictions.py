"""Snakemake script: a contact sheet of new photos with the labels a run's model gave them."""

import csv
import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.report import plots
from convnet.core import records
from convnet.core.logs import run_logged
from convnet.arrays.photos import read_photos
from convnet.core.runcard import RunCard


def main(sm) -> None:
    with open(sm.input.predictions, newline="") as handle:
        rows = list(csv.DictReader(handle))
    card = RunCard.read(Path(sm.input.run_card))  # as the model was trained
    photos = read_photos(Path(sm.input.photos), card.image_size, card.resize_interpolation)
    by_file = {row["file"]: row for row in rows}
    heatmaps = records.read_heatmaps(sm.input.heatmaps[0]) if sm.input.heatmaps else None
    rows = [by_file[p.file] for p in photos]
    figure = plots.contact_sheet(photos, rows, card.classes, sm.params.title, heatmaps=heatmaps)
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
