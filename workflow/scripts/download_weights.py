"""Snakemake script: fetch a pretrained base's weights file, verified against its published hash."""

import os
import sys

# common.smk names the package folder (also when this workflow is a module of another)
sys.path.insert(0, os.environ["CONVNET_WORKFLOW_PACKAGE"])

from convnet.core.download import download
from convnet.core.logs import run_logged


def main(sm) -> None:
    # the URL is the param (it names the bytes); the hashes, retries and timeout come from the config
    base = sm.wildcards.base
    weights = sm.config["pretrained"]["weights"][base]
    transfer = sm.config["data"]["download"]
    download(
        sm.params.url,
        sm.output[0],
        sha256=weights.get("sha256"),
        md5=weights.get("md5"),
        retries=transfer["retries"],
        timeout=transfer["timeout_s"],
        setting=f"pretrained.weights.{base}",
    )


run_logged(snakemake.log[0], lambda: main(snakemake))
