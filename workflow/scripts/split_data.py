"""Snakemake script: drop unusable images and split the source into train/validation/test folders."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.logs import run_logged
from convnet.data.prepare import prepare_dataset

run_logged(
    snakemake.log[0],
    lambda: prepare_dataset(
        source_path=Path(snakemake.input.source),
        out_dir=Path(snakemake.output.manifest).parent,
        # the pinned sha256 is verified, but is no param: pinning the hash you have reruns nothing
        data={**snakemake.params.data, "sha256": snakemake.config["data"].get("sha256")},
        threads=snakemake.threads,
    ),
)
