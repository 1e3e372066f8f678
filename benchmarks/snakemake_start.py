"""What a Snakemake command costs the test suite: started as the ``snakemake`` command, and forked
from tests/forked_snakemake.py's server, which imported Snakemake and its plugins once.

Both plan the same dry run of the tiny workflow (tests/tiny-config.yaml, 60 synthetic photos)
``--runs`` times each, alternating, in one run on one machine; printed: wall and CPU seconds per
command (the command's process and everything it started), and what starting the server cost.

    .venv/bin/python benchmarks/snakemake_start.py --runs 5
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "workflow"))

import forked_snakemake  # noqa: E402
from conftest import copy_tiny_workflow, tool  # noqa: E402
from synthetic import image_files, write_zip  # noqa: E402

ARGS = ["--cores", "2", "-n", "--configfile", "tests/tiny-config.yaml", "--config", "data={path: pets.zip}"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(command) -> tuple[float, float]:
    """(wall, CPU) seconds of ``command()``; CPU counts the processes it waited for (a forked
    command is a child of the server, so the server's own CPU is read from /proc instead)."""
    server_cpu = _server_cpu()
    cpu, wall = children_cpu(), time.perf_counter()
    proc = command()
    wall, cpu = time.perf_counter() - wall, children_cpu() - cpu + _server_cpu() - server_cpu
    if proc.returncode != 0:
        raise SystemExit(f"the dry run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu


def _server_cpu() -> float:
    """CPU seconds of the server and its waited-for children (the forked commands)."""
    server = forked_snakemake._server
    if server is None or server.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the command name
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        copy_tiny_workflow(workdir)
        write_zip(workdir / "pets.zip", image_files("kaggle", 30))
        started = time.perf_counter()
        forked_snakemake._started_server()
        start_wall, start_cpu = time.perf_counter() - started, _server_cpu()
        times = {"snakemake command": [], "forked from the server": []}
        for _ in range(runs):
            times["snakemake command"].append(
                measured(
                    lambda: subprocess.run(
                        [tool("snakemake"), *ARGS], cwd=workdir, capture_output=True, text=True
                    )
                )
            )
            times["forked from the server"].append(measured(lambda: forked_snakemake.run(ARGS, workdir)))
    from convnet.core.runcard import cpu_model  # after measuring: it imports Keras

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {runs} dry runs of the tiny workflow each")
    print(f"starting the server: {start_wall:.2f} s wall, {start_cpu:.2f} s CPU (once per test process)")
    for name, pairs in times.items():
        walls, cpus = zip(*pairs)
        print(
            f"{name:>24}: median {statistics.median(walls):.2f} s wall, "
            f"{statistics.median(cpus):.2f} s CPU per command"
        )


if __name__ == "__main__":
    main()
