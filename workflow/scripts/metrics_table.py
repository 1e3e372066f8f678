"""Snakemake script: one table of test metrics, a row per experiment and checkpoint."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.evaluate import metrics_table
from convnet.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: metrics_table([Path(p) for p in snakemake.input], Path(snakemake.output[0])),
)
