"""TensorFlow's two builds for a CPU side by side: the tensorflow-cpu that requirements.txt installs
on Linux and Windows x86_64, and the tensorflow package (with its CUDA stubs). Each is installed
by the README's own install command (``pip install -r requirements.txt``, an empty download cache)
into a fresh venv, one after the other; then a job's start in each (``import keras`` on TensorFlow
and one op, a new interpreter each time, the two alternating), as every Keras job of the workflow
starts, and what that start prints on standard error.

Printed per build: install wall seconds and venv size, median wall and CPU seconds of a start, and
the lines a start writes to standard error.

    python3 benchmarks/tensorflow_builds.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path

from install import ROOT, install
from job_start import measured

START = "import keras; keras.ops.convert_to_numpy(keras.ops.ones(1))"


def requirements_for(build: str) -> str:
    """requirements.txt with ``build`` in the place of tensorflow-cpu (same version and marker)."""
    return re.sub(r"^tensorflow-cpu==", f"{build}==", (ROOT / "requirements.txt").read_text(), flags=re.M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per build, alternating")
    args = parser.parse_args()
    command = "python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt"
    builds = ("tensorflow-cpu", "tensorflow")
    with tempfile.TemporaryDirectory(prefix="tensorflow-builds-") as scratch:
        installed = {
            build: install(Path(scratch), build, command, {"requirements.txt": requirements_for(build)})
            for build in builds
        }
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a start prints when nothing silences it
        starts: dict[str, list[tuple[float, float, str]]] = {build: [] for build in builds}
        for _ in range(args.runs):
            for build in builds:
                python = str(Path(scratch) / build / ".venv" / "bin" / "python")
                starts[build].append(measured(START, env, python))
    for build in builds:
        wall, size, _ = installed[build]
        runs = starts[build]
        lines = runs[-1][2].splitlines()
        print(
            f"{build:>14}: install {wall:6.1f} s, venv {size:.2f} GB; job start "
            f"{statistics.median(r[0] for r in runs):.2f} s wall, {statistics.median(r[1] for r in runs):.2f} s CPU "
            f"(median of {len(runs)}); {len(lines)} lines on stderr"
        )
        for line in lines:
            print(f"{'':>16}| {line[:150]}")


if __name__ == "__main__":
    main()
