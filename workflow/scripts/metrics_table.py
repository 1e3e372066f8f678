"""Snakemake script: every run's test metrics, a row per run and checkpoint."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.logs import run_logged
from convnet.core.tables import metrics_table

run_logged(
    snakemake.log[0],
    lambda: metrics_table([Path(p) for p in snakemake.input.metrics], Path(snakemake.output[0])),
)
