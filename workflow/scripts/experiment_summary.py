"""Snakemake script: an experiment's test metrics over its seeds (mean, spread, range)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.logs import run_logged
from convnet.tables import summary_table

run_logged(
    snakemake.log[0],
    lambda: summary_table([Path(p) for p in snakemake.input.metrics], Path(snakemake.output[0])),
)
