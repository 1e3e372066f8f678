"""Snakemake script: every run's test metrics, a row per run and checkpoint."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.logs import run_logged
from convnet.tables import metrics_table

run_logged(
    snakemake.log[0],
    lambda: metrics_table([Path(p) for p in snakemake.input.metrics], Path(snakemake.output[0])),
)
