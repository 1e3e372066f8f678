"""Snakemake script: the test images a run's last-epoch model got most confidently wrong."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd

from convnet import plots
from convnet.cache import load_image_set
from convnet.logs import run_logged


def main(sm) -> None:
    test = load_image_set(Path(sm.input.test))
    predictions = pd.read_csv(sm.input.predictions)
    figure = plots.errors_figure(
        test.images,
        predictions["label"].to_numpy(),
        predictions["probability_last"].to_numpy(),
        test.classes,
        sm.params.title,
    )
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
