"""Snakemake script: decode one split's images once into a uint8 array file, a chunk at a time."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.arrays.cache import split_classes, write_image_cache
from convnet.core.logs import run_logged


def main(sm) -> None:
    height, width = (int(v) for v in sm.wildcards.size.split("x"))
    write_image_cache(
        Path(sm.output[0]),
        Path(sm.input.manifest).parent,
        Path(sm.input.manifest),
        sm.wildcards.split,
        (height, width),
        split_classes(Path(sm.input.provenance)),
        threads=sm.threads,
        interpolation=sm.wildcards.resize,
        exif_orientation=sm.params.exif_orientation,
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
