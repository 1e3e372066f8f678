"""Snakemake script: train one run, an experiment with one seed (resuming from its checkpoint)."""

import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.learn.backend import check_gpu
from convnet.core.logs import run_logged
from convnet.learn.train import RunPaths, train_experiment


def main(sm) -> None:
    compute = sm.config["compute"]  # not a param: where a run trains does not rerun it
    check_gpu(compute["accelerator"], compute["cpu_fallback"])
    paths = RunPaths(
        train_cache=Path(sm.input.train),
        validation_cache=Path(sm.input.validation),
        last_model=Path(sm.output.last),
        best_model=Path(sm.output.best),
        history=Path(sm.output.history),
        checkpoint=Path(sm.params.checkpoint_dir),
        run_card=Path(sm.output.run_card),
        provenance=Path(sm.input.provenance),
        manifest=Path(sm.input.manifest),
        project=Path(os.environ["CONVNET_WORKFLOW_PACKAGE"]).parent,
        tensorboard=Path(sm.params.tensorboard_dir),
        base_weights=next((Path(p) for p in sm.input.base_weights), None),
        init_model=next((Path(p) for p in sm.input.init_model), None),
    )
    train_experiment(sm.wildcards.experiment, sm.params.settings, paths, threads=sm.threads)


# The attempts log sits beside the checkpoint: a resumed job's log keeps the earlier attempts' lines.
run_logged(snakemake.log[0], lambda: main(snakemake), attempts=f"{snakemake.params.checkpoint_dir}.log")
