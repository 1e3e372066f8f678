"""Snakemake script: decode one split's images once into a uint8 array file."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.cache import build_image_set, save_image_set, split_classes
from convnet.logs import run_logged


def main(sm) -> None:
    height, width = (int(v) for v in sm.wildcards.size.split("x"))
    image_set = build_image_set(
        Path(sm.input.manifest).parent,
        Path(sm.input.manifest),
        sm.wildcards.split,
        (height, width),
        split_classes(Path(sm.input.provenance)),
        threads=sm.threads,
        interpolation=sm.wildcards.resize,
        exif_orientation=sm.params.exif_orientation,
    )
    save_image_set(Path(sm.output[0]), image_set)


run_logged(snakemake.log[0], lambda: main(snakemake))
