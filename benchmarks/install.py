"""What setting up the tests' venv costs: ``pip install -r requirements-dev.txt`` against the
install part of the README's test command, read from the README (uv bootstrapped by pip, then
``uv pip install --compile-bytecode -r requirements-dev.txt``), each into a fresh venv with an empty
download cache, one after the other in one run on one machine. Both write the bytecode of every module: with
PYTHONDONTWRITEBYTECODE set, as on this project's machines, a venv without it compiles TensorFlow
again in every process that imports it.

Printed: wall seconds of each, the venv's size, and whether both installed the same versions.

    python3 benchmarks/install.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP = "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt"


def readme_test_command() -> str:
    """The README's test command (the line after "**Run the tests**:"), which CI runs."""
    readme = (ROOT / "README.md").read_text()
    marker = "**Run the tests**:"
    return readme[readme.index(marker) + len(marker) :].strip().splitlines()[0].strip()


def readme_install() -> str:
    """The README's test command up to the tests: what sets up the venv."""
    return readme_test_command().split(" && .venv/bin/python -m pytest")[0]


def install(
    scratch: Path, name: str, command: str, replaced: dict[str, str] | None = None
) -> tuple[float, float, list[str]]:
    """(wall seconds, size in GB, ``pip freeze`` without uv) of a fresh ``.venv`` that ``command``
    sets up in a folder of its own holding the requirements files (``replaced``: file name -> the
    text that file has there instead)."""
    folder = scratch / name
    folder.mkdir()
    for requirements in ROOT.glob("requirements*.txt"):
        if requirements.name in (replaced or {}):
            (folder / requirements.name).write_text(replaced[requirements.name])
        else:
            (folder / requirements.name).symlink_to(requirements)
    env = dict(os.environ, PIP_NO_CACHE_DIR="1", UV_CACHE_DIR=str(scratch / f"{name}-cache"))
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed:\n{proc.stderr[-2000:]}")
    venv = folder / ".venv"
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 1e9
    python = venv / "bin" / "python"
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    return wall, size, [line for line in freeze.stdout.splitlines() if not line.startswith("uv==")]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="install-benchmark-") as scratch:
        commands = {"pip": PIP, "uv": readme_install()}
        results = {name: install(Path(scratch), name, command) for name, command in commands.items()}
    for name, (wall, size, _) in results.items():
        print(f"{name:>4}: {wall:6.1f} s, venv {size:.2f} GB")
    same = results["pip"][2] == results["uv"][2]
    print(f"same versions installed: {'yes' if same else 'no'} ({len(results['pip'][2])} packages)")


if __name__ == "__main__":
    main()
