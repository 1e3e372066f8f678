"""Snakemake script: an experiment's test metrics over its seeds (mean, spread, range)."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.logs import run_logged
from convnet.core.tables import summary_table

run_logged(
    snakemake.log[0],
    lambda: summary_table([Path(p) for p in snakemake.input.metrics], Path(snakemake.output[0])),
)
