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
import subprocess
import tempfile
import time
from pathlib import Path

from install import ROOT, install

START = "import keras; keras.ops.convert_to_numpy(keras.ops.ones(1))"
# what requirements.txt asks for on Linux x86_64, and the other build in its place
CPU_LINE = re.compile(r"^tensorflow-cpu==.*$", re.M)


def requirements_for(build: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    version = re.search(r"^tensorflow-cpu==([^;\s]+)", text, re.M).group(1)
    return CPU_LINE.sub(f"{build}=={version}", text)


def job_start(python: Path) -> tuple[float, float, list[str]]:
    """(wall, CPU) seconds of a new interpreter that starts Keras on TensorFlow, and its stderr."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    before = os.times()
    wall = time.perf_counter()
    proc = subprocess.run([str(python), "-c", START], env=env, capture_output=True, text=True, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - wall, cpu, proc.stderr.splitlines()


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
        starts: dict[str, list[tuple[float, float, list[str]]]] = {build: [] for build in builds}
        for _ in range(args.runs):
            for build in builds:
                starts[build].append(job_start(Path(scratch) / build / ".venv" / "bin" / "python"))
    for build in builds:
        wall, size, _ = installed[build]
        runs = starts[build]
        lines = runs[-1][2]
        print(
            f"{build:>14}: install {wall:6.1f} s, venv {size:.2f} GB; job start "
            f"{statistics.median(r[0] for r in runs):.2f} s wall, {statistics.median(r[1] for r in runs):.2f} s CPU "
            f"(median of {len(runs)}); {len(lines)} lines on stderr"
        )
        for line in lines:
            print(f"{'':>16}| {line[:150]}")


if __name__ == "__main__":
    main()
