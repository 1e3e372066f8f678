"""Snakemake script: a sweep's leaderboard as a figure."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.logs import run_logged
from convnet.report import plots


def main(sm) -> None:
    plots.save_figure(plots.leaderboard_figure(sm.input[0], sm.params.title), sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
