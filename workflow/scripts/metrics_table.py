"""Snakemake script for metrics_table (a row per run and checkpoint) and experiment_summary (the
mean and spread over an experiment's seeds)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.evaluate import metrics_table, summary_table
from convnet.logs import run_logged

write_table = summary_table if snakemake.rule == "experiment_summary" else metrics_table
run_logged(
    snakemake.log[0],
    lambda: write_table([Path(p) for p in snakemake.input], Path(snakemake.output[0])),
)
