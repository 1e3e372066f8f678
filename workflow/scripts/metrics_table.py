"""Snakemake script: one table of test metrics, a row per experiment and checkpoint."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (set by Snakemake)

from convnet.evaluate import metrics_table  # noqa: E402
from convnet.logs import run_logged  # noqa: E402

run_logged(
    snakemake.log[0],  # noqa: F821
    lambda: metrics_table([Path(p) for p in snakemake.input], Path(snakemake.output[0])),  # noqa: F821
)
