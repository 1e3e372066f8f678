"""Snakemake script: fetch the data archive named by config ``data`` (url or kaggle)."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.download import download, kaggle_download
from convnet.core.logs import run_logged


def main(data: dict, dest: str) -> None:
    if data["source"] == "kaggle":
        kaggle_download(data["kaggle_competition"], dest, sha256=data.get("sha256"))
    else:
        download(
            data["url"],
            dest,
            sha256=data.get("sha256"),
            retries=data["download"]["retries"],
            timeout=data["download"]["timeout_s"],
        )


# params.data names the archive (a change reruns the download); retries, timeout and the pinned
# sha256 come from the config, so changing them alone reruns nothing.
run_logged(
    snakemake.log[0],
    lambda: main({**snakemake.config["data"], **snakemake.params.data}, snakemake.output[0]),
)
