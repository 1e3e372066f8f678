"""Snakemake script: write the config this run used (after defaults and overrides), for the report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (set by Snakemake)

import yaml  # noqa: E402

from convnet.files import atomic_write_text  # noqa: E402
from convnet.logs import run_logged  # noqa: E402

run_logged(
    snakemake.log[0],  # noqa: F821
    lambda: atomic_write_text(
        snakemake.output[0], yaml.safe_dump(snakemake.params.config, sort_keys=False)  # noqa: F821
    ),
)
