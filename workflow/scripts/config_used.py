"""Snakemake script: write the config this run used (after defaults and overrides), for the report."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

import yaml

from convnet.core.files import atomic_write_text
from convnet.core.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: atomic_write_text(
        snakemake.output[0],
        yaml.safe_dump(snakemake.params.config, sort_keys=False),
    ),
)
