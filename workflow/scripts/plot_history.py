"""Snakemake script: an experiment's training curves (the mean over its seeds), as in the book."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.report import plots
from convnet.core.logs import run_logged


def main(sm) -> None:
    histories = [plots.read_history(path) for path in sm.input.histories]
    plots.save_figure(plots.history_figure(histories, sm.params.metric, sm.params.experiment), sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
