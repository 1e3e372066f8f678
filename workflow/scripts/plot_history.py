"""Snakemake script: an experiment's training curves (the mean over its seeds), as in the book."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from convnet import plots
from convnet.logs import run_logged


def main(sm) -> None:
    histories = [plots.read_history(path) for path in sm.input.histories]
    plots.save_figure(plots.history_figure(histories, sm.params.metric, sm.params.experiment), sm.output[0])


run_logged(snakemake.log[0], lambda: main(snakemake))
