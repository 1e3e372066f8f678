"""Snakemake script: train one run, an experiment with one seed (resuming from its checkpoint)."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.backend import check_gpu
from convnet.logs import run_logged
from convnet.train import train_experiment


def main(sm) -> None:
    compute = sm.config["compute"]  # not a param: where a run trains does not rerun it
    check_gpu(compute["accelerator"], compute["cpu_fallback"])
    train_experiment(
        sm.wildcards.experiment,
        sm.params.settings,
        Path(sm.input.train),
        Path(sm.input.validation),
        Path(sm.output.last),
        Path(sm.output.best),
        Path(sm.output.history),
        Path(sm.params.checkpoint_dir),
        threads=sm.threads,
        tensorboard_dir=Path(sm.params.tensorboard_dir),
        run_card=Path(sm.output.run_card),
        data_files=(Path(sm.input.provenance), Path(sm.input.manifest)),
        project=Path(os.environ["CONVNET_WORKFLOW_PACKAGE"]).parent,
        base_weights=next((Path(p) for p in sm.input.base_weights), None),
        init_model=next((Path(p) for p in sm.input.init_model), None),
    )


# The attempts log sits beside the checkpoint: a resumed job's log keeps the earlier attempts' lines.
run_logged(snakemake.log[0], lambda: main(snakemake), attempts=f"{snakemake.params.checkpoint_dir}.log")
