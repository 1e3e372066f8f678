"""Snakemake script: evaluate one run's last and best models on the test split, and the heatmaps of
the last model's most confident errors."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.learn.backend import check_gpu
from convnet.learn.evaluate import evaluate_experiment
from convnet.learn.explain import explain_errors
from convnet.core.logs import run_logged


def main(sm) -> None:
    check_gpu(sm.config["compute"]["accelerator"], sm.config["compute"]["cpu_fallback"])
    evaluate_experiment(
        sm.wildcards.experiment,
        int(sm.wildcards.seed),
        {"last": Path(sm.input.last), "best": Path(sm.input.best)},
        Path(sm.input.test),
        Path(sm.output.metrics),
        Path(sm.output.predictions),
        test_time_augmentation=sm.params.settings["test_time_augmentation"],
    )
    # where the last-epoch model looked, over the test images its errors sheet shows
    explain_errors(
        Path(sm.input.last), Path(sm.input.test), Path(sm.output.predictions), Path(sm.output.heatmaps)
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
