"""Snakemake script: the sweep winner's test metrics, with the rule and leaderboard they came from."""

import json
import os
import sys
from pathlib import Path

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.files import atomic_write_text
from convnet.core.logs import run_logged
from convnet.core.records import read_metrics
from convnet.core.sweeps import dumps, winner_test_record


def main(sm) -> None:
    winner = json.loads(Path(sm.input.winner).read_text())
    metrics = {int(read_metrics(path)["seed"]): read_metrics(path) for path in sm.input.metrics}
    atomic_write_text(sm.output[0], dumps(winner_test_record(winner, metrics)))


run_logged(snakemake.log[0], lambda: main(snakemake))
