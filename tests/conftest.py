from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats-128px.zip"


def load_config(*overlays: str) -> dict:
    """config/config.yaml with ``config/<overlay>.yaml`` layered over it in order, as Snakemake
    does with ``--configfile config/<overlay>.yaml ...`` (mappings merged, other values replaced)."""
    import yaml

    from convnet.core.experiments import deep_merge

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for overlay in overlays:
        config = deep_merge(config, yaml.safe_load((ROOT / "config" / f"{overlay}.yaml").read_text()))
    return config


# The SLURM executor plugin runs `scontrol show config` each time Snakemake starts, if `sinfo` is on
# PATH. With the SLURM client installed but no controller running (as after tests/test_slurm.py
# stops its daemons), each start then waits 10 s for a reply (hundreds of starts in this suite).
# Runs that do not use SLURM get an `scontrol` that fails at once; tests/test_slurm.py uses
# real_path().
_NO_SCONTROL_PREFIX = "convnet-no-scontrol-"


def _no_scontrol_folder() -> Path | None:
    """The failing ``scontrol``'s folder that this process inherited on PATH, if any."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if Path(entry).name.startswith(_NO_SCONTROL_PREFIX) and (Path(entry) / "scontrol").is_file():
            return Path(entry)
    return None


# Made once, by the first test process (the one that also removes it at exit): the processes it
# starts (pytest-xdist's workers, which end without running atexit, and tests/test_jax.py's pytest)
# inherit its PATH and use its folder, instead of each leaving one behind in the temp folder.
if _no_scontrol_folder() is None:
    _NO_SCONTROL = Path(tempfile.mkdtemp(prefix=_NO_SCONTROL_PREFIX))
    (_NO_SCONTROL / "scontrol").write_text(
        "#!/bin/sh\n# tests/conftest.py: no SLURM controller here\nexit 1\n"
    )
    (_NO_SCONTROL / "scontrol").chmod(0o755)
    atexit.register(shutil.rmtree, _NO_SCONTROL, True)
    os.environ["PATH"] = f"{_NO_SCONTROL}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_collection_modifyitems(items):
    """The slow tests first, in their files' order, then the rest: with two test processes
    (pytest-xdist hands out tests in this order), the run then ends on short tests on both, not
    on one process's end-to-end run while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def real_path() -> str:
    """PATH without the tests' failing `scontrol`: for the runs that use SLURM. Every one of them
    goes, not only this process's: with pytest-xdist a worker inherits the PATH of the process
    that started it, which put its own there first (with it, the executor plugin reads no
    MinJobAge, falls back to sacct, which fails without slurmdbd, and the run hangs)."""
    return os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not Path(p).name.startswith(_NO_SCONTROL_PREFIX)
    )


def tool(name: str) -> str:
    """A command from the same environment as the tests' Python, else from PATH."""
    import sys

    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA} (only the project's CI and developers have it)")
    return REAL_DATA


def copy_workflow(target: Path) -> Path:
    """Copy the workflow (code, config, env files, profiles; no results) into ``target``."""
    for item in ("Snakefile", "workflow", "config", "envs", "profiles"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, target / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / item)
    return target


def copy_tiny_workflow(target: Path) -> Path:
    """A workflow copy plus tests/tiny-config.yaml, for fast end-to-end runs."""
    copy_workflow(target)
    (target / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "tiny-config.yaml", target / "tests")
    return target


def run_paths(caches, folder: Path, stem: str = "m", **others):
    """A test training's paths (``convnet.learn.train.RunPaths``): it reads ``caches`` (training,
    validation) and writes ``folder/<stem>.h5``, ``<stem>_best.h5``, ``<stem>.csv`` and
    ``checkpoint/``; ``others``: the optional paths (run card, base weights, ...)."""
    from convnet.learn.train import RunPaths  # Keras: imported by the tests that train, not by every test

    return RunPaths(
        train_cache=caches[0],
        validation_cache=caches[1],
        last_model=folder / f"{stem}.h5",
        best_model=folder / f"{stem}_best.h5",
        history=folder / f"{stem}.csv",
        checkpoint=folder / "checkpoint",
        **others,
    )


@contextmanager
def http_server(handler):
    """Serve ``handler`` (a request handler class, or a factory of one) on 127.0.0.1 from a
    thread; yield the base URL (``http://127.0.0.1:<port>``)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# The fault suite's reference (tests/fault_suite.py): one finished run of every target from a served
# archive, which the kills are compared with and several tests copy and go on from. Tests that use
# it share one xdist group, so that one worker makes it once (pyproject.toml: --dist loadgroup).
SHARES_THE_REFERENCE = pytest.mark.xdist_group("fault-suite-reference")


@pytest.fixture(scope="session")  # not "module": a worker may run other modules in between
def reference(tmp_path_factory):
    import fault_suite

    with fault_suite.reference_run(tmp_path_factory.mktemp("reference")) as run:
        yield run


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the workflow to run Snakemake in."""
    return copy_workflow(tmp_path)


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))


def job_events(output: str, rule: str) -> dict[str, dict[str, int]]:
    """From Snakemake's output, for each job of ``rule`` (by its wildcards line,
    ``experiment=augmented, seed=1``): the character offsets where it started (its ``rule`` or
    ``localrule`` block),
    was submitted to a cluster, and finished. Offsets order the events in time."""
    import re

    jobs: dict[str, dict[str, int]] = {}
    for block in re.finditer(
        rf"^(?:local)?rule {rule}:\n(?:\s+.*\n)*?\s+jobid: (\d+)\n(?:\s+.*\n)*?\s+wildcards: (.*)\n",
        output,
        re.M,
    ):
        jobid, wildcards = block.group(1), block.group(2).strip()
        events = {"started": block.start()}
        submitted = re.search(rf"^Job {jobid} has been submitted", output[block.start() :], re.M)
        if submitted:
            events["submitted"] = block.start() + submitted.start()
        finished = re.search(rf"^Finished jobid: {jobid} \(Rule: {rule}\)", output, re.M)
        if finished:
            events["finished"] = finished.start()
        jobs[wildcards] = events
    return jobs
