"""Snakemake script: build an experiment's model, write its summary, and check it against the config."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.cache import split_classes
from convnet.logs import run_logged
from convnet.summary import write_model_summary

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
