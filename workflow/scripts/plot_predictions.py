"""Snakemake script: a contact sheet of new photos with the labels a run's model gave them."""

import csv
import json
import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet import plots
from convnet.logs import run_logged
from convnet.predict import read_photos


def main(sm) -> None:
    with open(sm.input.predictions, newline="") as handle:
        rows = list(csv.DictReader(handle))
    card = json.loads(Path(sm.input.run_card).read_text())  # as the model was trained
    settings = card["settings"]
    photos = read_photos(
        Path(sm.input.photos), tuple(settings["image_size"]), settings["resize_interpolation"]
    )
    by_file = {row["file"]: row for row in rows}
    figure = plots.contact_sheet(
        photos, [by_file[p.file] for p in photos], card["data"]["classes"], sm.params.title
    )
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
