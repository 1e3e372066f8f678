"""Snakemake script for every plot rule: read the inputs, draw with convnet.plots, save the PNG."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd

from convnet import plots
from convnet.cache import load_image_set
from convnet.logs import run_logged


def plot_history(sm):
    history = plots.read_history(sm.input[0])
    return plots.history_figure(history, sm.wildcards.metric, sm.wildcards.experiment)


def plot_comparison(sm):
    histories = {
        name: plots.read_history(path) for name, path in zip(sm.params.experiments, sm.input.histories)
    }
    accuracy = {
        name: plots.load_metrics(path)["last"]["accuracy"]
        for name, path in zip(sm.params.experiments, sm.input.metrics)
    }
    return plots.comparison_figure(histories, accuracy)


def plot_confusion(sm):
    return plots.confusion_figure(plots.load_metrics(sm.input[0]))


def plot_errors(sm):
    test = load_image_set(Path(sm.input.test))
    predictions = pd.read_csv(sm.input.predictions)
    return plots.errors_figure(
        test.images,
        predictions["label"].to_numpy(),
        predictions["probability_last"].to_numpy(),
        test.classes,
        sm.wildcards.experiment,
    )


def main(sm) -> None:
    figure = globals()[sm.rule](sm)
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
