"""What starting Keras on TensorFlow costs each job that trains, evaluates, predicts or checks a
model (every such job is a new Python process), with the ml-dtypes that requirements.txt pins and
with other versions of it, side by side.

ml-dtypes is TensorFlow's and Keras's dependency (NumPy's bfloat16 and float8 types), imported
with them; requirements.txt pins it because the version that pip picks by itself changes how long
that import takes. Each other version is installed with ``pip install --no-deps --target`` into a
temporary folder that goes first on PYTHONPATH, over this environment's; so it needs PyPI or a pip
cache. ``--runs`` starts per version, alternating; printed: median wall and CPU seconds of
``import keras`` (KERAS_BACKEND=tensorflow), and of ``import ml_dtypes`` alone.

    .venv/bin/python benchmarks/job_start.py --runs 5 --versions 0.7.0
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

IMPORTS = {"import keras": "import keras", "import ml_dtypes": "import ml_dtypes"}
REPORT = "import ml_dtypes, sys; sys.stdout.write(ml_dtypes.__version__)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(code: str, env: dict[str, str], python: str = sys.executable) -> tuple[float, float, str]:
    """(wall, CPU) seconds of a new interpreter (``python``) that runs ``code``, and what it wrote to
    standard error."""
    cpu, wall = children_cpu(), time.perf_counter()
    proc = subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - wall, children_cpu() - cpu, proc.stderr


def environments(versions: list[str], folder: Path) -> dict[str, dict[str, str]]:
    """The environment of each version's interpreters, by the version they really import."""
    base = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    envs = [base]
    for version in versions:
        target = folder / version
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
            + [f"ml-dtypes=={version}"],
            check=True,
        )
        envs.append(
            dict(base, PYTHONPATH=os.pathsep.join(filter(None, [str(target), base.get("PYTHONPATH")])))
        )
    found = {}
    for env in envs:
        version = subprocess.run(
            [sys.executable, "-c", REPORT], env=env, capture_output=True, text=True, check=True
        )
        found[version.stdout.strip()] = env
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--versions", nargs="+", default=["0.7.0"], help="other ml-dtypes versions")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        envs = environments(options.versions, Path(folder))
        times = {(version, name): [] for version in envs for name in IMPORTS}
        for _ in range(options.runs):
            for version, env in envs.items():
                for name, code in IMPORTS.items():
                    times[version, name].append(measured(code, env)[:2])
    from convnet.core.runcard import cpu_model  # after measuring: it imports Keras

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {options.runs} starts each, alternating")
    for (version, name), pairs in times.items():
        walls, cpus = zip(*pairs)
        print(
            f"ml-dtypes {version:>7}, {name:>16}: median {statistics.median(walls):.2f} s wall, "
            f"{statistics.median(cpus):.2f} s CPU"
        )


if __name__ == "__main__":
    main()
