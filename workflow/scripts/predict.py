"""Snakemake script: classify the photos of a folder or archive with one run's model."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.learn.backend import check_gpu
from convnet.core.logs import run_logged
from convnet.learn.explain import explain_predictions
from convnet.learn.predict import predict_photos, write_predictions


def main(sm) -> None:
    check_gpu(sm.config["compute"]["accelerator"], sm.config["compute"]["cpu_fallback"])
    photos, rows, classes = predict_photos(Path(sm.input.model), Path(sm.input.photos))
    write_predictions(rows, Path(sm.output.table))
    # where the model looked, over the photos the contact sheet shows
    explain_predictions(Path(sm.input.model), photos, rows, classes, Path(sm.output.heatmaps))


run_logged(snakemake.log[0], lambda: main(snakemake))
