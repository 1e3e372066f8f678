"""Snakemake script: a run's per-class precision, recall and F1 on the test set (last checkpoint)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet import plots, records
from convnet.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: plots.save_figure(
        plots.per_class_figure(records.read_metrics(snakemake.input.metrics)), snakemake.output[0]
    ),
)
