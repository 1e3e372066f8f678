"""Snakemake script: a run's per-class precision, recall and F1 on the test set (last checkpoint)."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.report import plots

from convnet.core import records
from convnet.core.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: plots.save_figure(
        plots.per_class_figure(records.read_metrics(snakemake.input.metrics)), snakemake.output[0]
    ),
)
