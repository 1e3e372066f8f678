"""Snakemake script: a sweep's leaderboard from its finished runs (and, complete, its winner)."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.logs import run_logged
from convnet.core.sweeps import write_leaderboard


def main(sm) -> None:
    write_leaderboard(
        sm.wildcards.sweep,
        sm.params.sweep,
        sm.params.tested,
        sm.output.table,
        sm.output.get("winner"),
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
