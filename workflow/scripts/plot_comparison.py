"""Snakemake script: every experiment's validation accuracy on one chart, test accuracy in the legend."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.report import plots

from convnet.core import records
from convnet.core.logs import run_logged


def main(sm) -> None:
    # Histories by experiment as params name them; test accuracy by the experiment each metrics
    # file records: nothing depends on the order of the input lists.
    histories = {
        name: [plots.read_history(path) for path in paths] for name, paths in sm.params.histories.items()
    }
    accuracy: dict[str, list[float]] = {}
    for path in sm.input.metrics:
        result = records.read_metrics(path)
        accuracy.setdefault(result["experiment"], []).append(result["last"]["accuracy"])
    plots.save_figure(plots.comparison_figure(histories, accuracy), sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
