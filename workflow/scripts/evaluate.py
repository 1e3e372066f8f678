"""Snakemake script: evaluate one run's last and best models on the test split."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.backend import check_gpu
from convnet.evaluate import evaluate_experiment
from convnet.logs import run_logged


def main(sm) -> None:
    check_gpu(sm.config["compute"]["accelerator"], sm.config["compute"]["cpu_fallback"])
    evaluate_experiment(
        sm.wildcards.experiment,
        int(sm.wildcards.seed),
        {"last": Path(sm.input.last), "best": Path(sm.input.best)},
        Path(sm.input.test),
        Path(sm.output.metrics),
        Path(sm.output.predictions),
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
