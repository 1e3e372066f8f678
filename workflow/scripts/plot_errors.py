"""Snakemake script: the test images a run's last-epoch model got most confidently wrong."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

import numpy as np

from convnet.report import plots

from convnet.core import records
from convnet.arrays.cache import load_image_set
from convnet.core.errors import DataError
from convnet.core.logs import run_logged


def main(sm) -> None:
    test = load_image_set(Path(sm.input.test))
    predictions = records.read_predictions(sm.input.predictions, test.classes)
    missing = [file for file in test.files if file not in predictions]
    if missing:
        raise DataError(f"{sm.input.predictions} has no row for {missing[0]}: rerun the evaluation")
    # joined by file: the cache's images with their own rows, whatever the CSV's order
    figure = plots.errors_figure(
        test.images,
        np.array([predictions[file][0] for file in test.files]),
        np.array([predictions[file][1] for file in test.files]),
        test.classes,
        sm.params.title,
        files=test.files,
        heatmaps=records.read_heatmaps(sm.input.heatmaps[0]) if sm.input.heatmaps else None,
    )
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
