"""Snakemake script: train one run, an experiment with one seed (resuming from its checkpoint)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet.logs import run_logged
from convnet.train import train_experiment


def main(sm) -> None:
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
    )


# The attempts log sits beside the checkpoint: a resumed job's log keeps the earlier attempts' lines.
run_logged(snakemake.log[0], lambda: main(snakemake), attempts=f"{snakemake.params.checkpoint_dir}.log")
