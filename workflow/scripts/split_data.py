"""Snakemake script: drop unusable images and split the source into train/validation/test folders."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (set by Snakemake)

from convnet.logs import run_logged  # noqa: E402
from convnet.prepare import prepare_dataset  # noqa: E402

run_logged(
    snakemake.log[0],  # noqa: F821
    lambda: prepare_dataset(
        source_path=Path(snakemake.input.source),  # noqa: F821
        out_dir=Path(snakemake.output.manifest).parent,  # noqa: F821
        data=snakemake.params.data,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    ),
)
