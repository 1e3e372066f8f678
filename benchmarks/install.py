"""What setting up the tests' venv costs: ``pip install -r requirements-dev.txt`` against the
README's ``uv pip install --compile-bytecode -r requirements-dev.txt`` (uv itself installed by pip
first, as the README does), each into a fresh venv with an empty download cache, one after the
other in one run on one machine. Both write the bytecode of every module: with
PYTHONDONTWRITEBYTECODE set, as on this project's machines, a venv without it compiles TensorFlow
again in every process that imports it.

Printed: wall seconds of each, the venv's size, and whether both installed the same versions.

    python3 benchmarks/install.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements-dev.txt"


def uv_pin() -> str:
    return next(line.strip() for line in REQUIREMENTS.read_text().splitlines() if line.startswith("uv=="))


def run(*command: str | Path, **env: str) -> None:
    proc = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, env=dict(os.environ, **env)
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{proc.stderr[-2000:]}")


def install(scratch: Path, installer: str) -> tuple[float, float, list[str]]:
    """(wall seconds, size in GB, ``pip freeze`` without uv) of a fresh venv set up by ``installer``."""
    venv = scratch / installer
    python = venv / "bin" / "python"
    cache = {"PIP_NO_CACHE_DIR": "1", "UV_CACHE_DIR": str(scratch / f"{installer}-cache")}
    start = time.perf_counter()
    run(sys.executable, "-m", "venv", venv)
    if installer == "pip":
        run(python, "-m", "pip", "install", "-q", "-r", REQUIREMENTS, **cache)
    else:
        run(python, "-m", "pip", "install", "-q", uv_pin(), **cache)
        run(venv / "bin" / "uv", "pip", "install", "-q", "--python", python, "--compile-bytecode",
            "-r", REQUIREMENTS, **cache)  # fmt: skip
    wall = time.perf_counter() - start
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 1e9
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    return wall, size, [line for line in freeze.stdout.splitlines() if not line.startswith("uv==")]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="install-benchmark-") as scratch:
        results = {name: install(Path(scratch), name) for name in ("pip", "uv")}
    for name, (wall, size, _) in results.items():
        print(f"{name:>4}: {wall:6.1f} s, venv {size:.2f} GB")
    same = results["pip"][2] == results["uv"][2]
    print(f"same versions installed: {'yes' if same else 'no'} ({len(results['pip'][2])} packages)")


if __name__ == "__main__":
    main()
