"""Snakemake script: export a run's last-epoch model (SavedModel, ONNX, LiteRT) and check each."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.arrays.cache import load_image_set
from convnet.core.logs import run_logged
from convnet.learn.export import export_run


def main(sm) -> None:
    images = load_image_set(Path(sm.input.validation)).images[: sm.params.check_images]
    export_run(Path(sm.input.model), images, Path(sm.output.check).parent, Path(sm.output.check))


run_logged(snakemake.log[0], lambda: main(snakemake))
