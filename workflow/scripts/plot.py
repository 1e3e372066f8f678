"""Snakemake script for every plot rule: read the inputs, draw with convnet.plots, save the PNG."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd

from convnet import plots
from convnet.cache import load_image_set
from convnet.logs import run_logged


def plot_history(sm):
    histories = [plots.read_history(path) for path in sm.input]
    return plots.history_figure(histories, sm.wildcards.metric, sm.wildcards.experiment)


def plot_comparison(sm):
    # Both inputs list every run, in the order of params.experiments (one entry per run).
    histories, accuracy = {}, {}
    for name, history, metrics in zip(sm.params.experiments, sm.input.histories, sm.input.metrics):
        histories.setdefault(name, []).append(plots.read_history(history))
        accuracy.setdefault(name, []).append(plots.load_metrics(metrics)["last"]["accuracy"])
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
        f"{sm.wildcards.experiment} (seed {sm.wildcards.seed})",
    )


def main(sm) -> None:
    figure = globals()[sm.rule](sm)
    plots.save_figure(figure, sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
