"""Snakemake commands for the tests, each run as ``snakemake.cli.main(args)`` (what the
``snakemake`` command runs) in a process forked from a server that imported Snakemake and its
plugins once.

Most of a Snakemake start is imports, and the suite starts Snakemake for every config key, bad
input and documented command, and to unlock after each kill: benchmarks/snakemake_start.py
measures a dry run both ways. Each command still gets a process of its own (its own working
folder, environment, arguments, logging and exit code), so one cannot leak into the next. The
kill tests start real ``snakemake`` processes (``fault_suite.start``), and so do the tests of
the command itself (test_layers, test_slurm, test_jax).

    python tests/forked_snakemake.py   # the server: JSON requests on stdin, one reply line each
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from conftest import tool


def serve() -> None:
    import snakemake.cli

    # Building the argument parser loads every installed plugin (each adds options): the rest of
    # a start. Parsed in an empty folder, so that no workflow profile is read.
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        snakemake.cli.parse_args(["--dry-run"])
        os.chdir(os.path.dirname(empty))  # not left standing in a deleted folder
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        child = os.fork()
        if child == 0:
            _run_child(snakemake.cli.main, request)
        _, status = os.waitpid(child, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


def _run_child(main, request: dict) -> None:
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        try:
            main(request["argv"][1:])
        except SystemExit as stop:  # main() always ends with sys.exit
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


_server: subprocess.Popen | None = None
_lock = threading.Lock()


def _stop_server() -> None:
    global _server
    if _server is not None and _server.poll() is None:
        os.killpg(_server.pid, signal.SIGKILL)  # the server, a running command and its jobs
        _server.wait()
    _server = None


def _started_server() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if _server.stdout.readline().strip() != "ready":
            _stop_server()
            raise RuntimeError("the forked Snakemake server did not start; run tests/forked_snakemake.py")
        atexit.register(_stop_server)
    return _server


def run(
    args: list[str], cwd: Path | str, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """``snakemake *args`` in ``cwd``, as subprocess.run(..., capture_output=True, text=True)
    returns it; on a timeout the command is killed and subprocess.TimeoutExpired raised."""
    argv = [str(tool("snakemake")), *map(str, args)]
    with _lock, tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        request = {
            "cwd": str(Path(cwd).resolve()),
            "env": dict(os.environ if env is None else env),
            "argv": argv,
            "stdout": str(out),
            "stderr": str(err),
        }
        server = _started_server()
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        if not select.select([server.stdout], [], [], timeout)[0]:
            _stop_server()
            raise subprocess.TimeoutExpired(argv, timeout)
        reply = server.stdout.readline()
        if not reply:
            _stop_server()
            raise RuntimeError(f"the forked Snakemake server died running {' '.join(argv)}")
        returncode = json.loads(reply)["returncode"]
        return subprocess.CompletedProcess(argv, returncode, out.read_text(), err.read_text())


if __name__ == "__main__":
    serve()
