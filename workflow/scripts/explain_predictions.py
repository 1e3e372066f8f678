"""Snakemake script: Grad-CAM heatmaps over the photos a prediction contact sheet shows."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.learn.backend import check_gpu
from convnet.core.logs import run_logged
from convnet.learn.explain import explain_predictions


def main(sm) -> None:
    check_gpu(sm.config["compute"]["accelerator"], sm.config["compute"]["cpu_fallback"])
    explain_predictions(
        Path(sm.input.model), Path(sm.input.photos), Path(sm.input.predictions), Path(sm.output[0])
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
