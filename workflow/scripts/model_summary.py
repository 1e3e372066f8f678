"""Snakemake script: build an experiment's model, write its summary, and check it against the config."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (set by Snakemake)

from convnet.logs import run_logged  # noqa: E402
from convnet.summary import write_model_summary  # noqa: E402

run_logged(
    snakemake.log[0],  # noqa: F821
    lambda: write_model_summary(
        snakemake.wildcards.experiment,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        Path(snakemake.output.text),  # noqa: F821
        Path(snakemake.output.table),  # noqa: F821
    ),
)
