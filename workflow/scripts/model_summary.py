"""Snakemake script: build an experiment's model, write its summary, and check it against the config."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.arrays.cache import split_classes
from convnet.core.logs import run_logged
from convnet.learn.summary import write_model_summary

run_logged(
    snakemake.log[0],
    lambda: write_model_summary(
        snakemake.wildcards.experiment,
        snakemake.params.settings,
        Path(snakemake.output.text),
        Path(snakemake.output.table),
        num_classes=snakemake.params.num_classes or len(split_classes(Path(snakemake.input.provenance[0]))),
    ),
)
