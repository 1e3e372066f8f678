"""The fault suite: the workflow's reliability guarantees, measured on a tiny synthetic dataset.

1. **Kills.** An uninterrupted reference run, then the same run killed with SIGKILL (the whole
   process group: Snakemake and its jobs) at many moments spread over download, split, cache,
   model check, training (mid-epoch and mid-checkpoint-write), evaluation and plotting, each time
   recovered with the README's commands only (the same command with ``--unlock``, then with
   ``--rerun-incomplete``). At the end every output must equal the reference's: manifest, split
   images, caches, histories (but the ``seconds`` column), model weights, metrics, predictions.
2. **Bad inputs.** Bad archives, bad images and bad configs: each must stop with one line that
   names the file or key and the fix (no traceback), and leave no output that looks complete.
3. **Config keys.** After a finished run, every config key changed on its own: ``snakemake -n``
   must plan exactly the jobs that key affects (``EXPECTED_RERUNS``).

    .venv/bin/python tests/fault_suite.py --kills 40 --json fault-suite.json

prints the figures of docs/reliability.md. ``tests/test_fault_suite.py`` runs it in CI with 20 kills.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent / "workflow"))

import forked_snakemake  # noqa: E402
from conftest import copy_tiny_workflow, http_server, tool  # noqa: E402
from convnet.core.logs import error_messages  # noqa: E402
from synthetic import (  # noqa: E402
    damaged_zip_entry,
    image_files,
    jpeg_bytes,
    png_bytes,
    tar_bomb,
    tar_with_symlink,
    write_tar,
    write_zip,
    zip_bomb,
    zip_with_symlink,
    zip_with_traversal,
)

# Every run of the suite: the tiny config, three epochs so that training offers moments to kill.
TINY = ["--configfile", "tests/tiny-config.yaml"]
EPOCHS = "experiments={baseline: {epochs: 3}, augmented: {epochs: 3, steps_per_epoch: 3}}"
MANIFEST = "results/data/manifest.csv"


def snakemake_args(*args: str) -> list[str]:
    return ["--cores", "2", *args]


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    return [tool("snakemake"), *snakemake_args(*args)]


def run(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return forked_snakemake.run(snakemake_args(*args), workdir, env=env, timeout=timeout)


def checked(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise RuntimeError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


# ---------------------------------------------------------------------------------------------
# A slow HTTP server, so that the download is a moment that can be interrupted


class _Handler(http.server.SimpleHTTPRequestHandler):
    rate = 400_000  # bytes per second

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        try:
            while chunk := source.read(8192):
                outputfile.write(chunk)
                time.sleep(len(chunk) / self.rate)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the download was killed: that is the point


@contextmanager
def slow_server(folder: Path):
    """Serve a folder over HTTP on 127.0.0.1 at about 400 kB/s; yield the base URL."""
    with http_server(lambda *a, **k: _Handler(*a, directory=str(folder), **k)) as base:
        yield base


def make_workdir(root: Path, name: str) -> Path:
    workdir = root / name
    workdir.mkdir(parents=True)
    return copy_tiny_workflow(workdir)


def pets_archive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_zip(folder / "pets.zip", image_files("kaggle", 30, size=96))


# ---------------------------------------------------------------------------------------------
# The reference: one uninterrupted run that the kills are compared with, whose config the key
# changes are planned against, and that the damaged checkpoints and the full disk start from


@dataclass
class Reference:
    workdir: Path
    args: list[str]  # the command's arguments after ``snakemake --cores 2``
    url: str  # the served archive (``pets2.zip`` beside it holds the same bytes)
    digest: str  # its sha256
    events: list[str]  # its files in the order they first appeared (``file_events``)
    times: list[float]  # the seconds after its start when each of them appeared
    seconds: float


@contextmanager
def reference_run(root: Path):
    """Serve the tiny archive slowly over HTTP and finish an uninterrupted run from it; yield the
    Reference while the server still runs (the kills download again)."""
    remote = pets_archive(root / "remote")
    shutil.copy(remote, remote.with_name("pets2.zip"))
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    with slow_server(remote.parent) as base:
        url = f"{base}/pets.zip"
        args = [*TINY, "--config", f"data={{source: url, url: '{url}'}}", EPOCHS]
        workdir = make_workdir(root, "reference")
        events, times, seconds = file_events(workdir, args)
        yield Reference(workdir, args, url, digest, events, times, seconds)


def copy_of(reference: Reference, workdir: Path) -> Path:
    """The finished run in another folder, file times kept: Snakemake finds nothing to do there."""
    shutil.copytree(reference.workdir, workdir, symlinks=True)
    return workdir


# ---------------------------------------------------------------------------------------------
# 1. Kills


@dataclass
class Kill:
    number: int
    after_seconds: float
    trigger: str  # the new file whose appearance set the moment
    phase: str
    recovered: bool = True


def _files(results: Path) -> set[str]:
    """Every file under ``results``, relative to its parent. The watcher calls this every few
    milliseconds beside the run it watches, on the same cores: so it slices strings, not
    os.path.relpath for each file."""
    parent = len(str(results.parent)) + 1
    found = set()
    for dirpath, _, filenames in os.walk(results):
        folder = dirpath[parent:]
        found.update(f"{folder}/{filename}" for filename in filenames)
    return found


PHASES = (
    ("results/downloads/", "download"),
    ("results/logs/download_data", "download"),
    ("results/benchmarks/cache_images", "cache"),
    ("results/benchmarks/split_data", "split"),
    ("results/logs/experiment_summary", "tables"),
    ("results/logs/metrics_table", "tables"),
    ("results/logs/config_used", "report"),
    ("results/data/", "split"),
    ("results/logs/split_data", "split"),
    ("results/cache/", "cache"),
    ("results/logs/cache_images", "cache"),
    ("results/models/", "model check or saving"),
    ("results/logs/model_summary", "model check"),
    ("results/checkpoints/", "training: checkpoint write"),
    ("results/logs/train", "training"),
    ("results/tensorboard/", "training"),
    ("results/history/", "training: history"),
    ("results/benchmarks/train", "training"),
    ("results/metrics/", "tables"),
    ("results/logs/evaluate", "evaluation"),
    ("results/benchmarks/evaluate", "evaluation"),
    ("results/plots/", "plotting"),
    ("results/logs/plots", "plotting"),
    ("results/report/", "report"),
)


def phase_of(path: str) -> str:
    # results/metrics/{experiment}/seed{N}*: an evaluation's own files; the rest there: tables
    if path.startswith("results/metrics/") and "/seed" in path:
        return "evaluation"
    for prefix, phase in PHASES:
        if path.startswith(prefix):
            if phase == "training: checkpoint write" and path.endswith((".csv", ".log")):
                return "training: mid-epoch"
            return phase
    return "other"


def event_of(path: str) -> str:
    """One event per file, but one per folder for the split's images: kills spread over the
    steps of the workflow, not over the hundreds of JPEGs the split writes."""
    if path.startswith("results/data/") and path.endswith((".jpg", ".jpeg", ".png")):
        return os.path.dirname(path)
    return path


def watch_new_files(workdir: Path, proc: subprocess.Popen, seen: set[str], poll: float = 0.02):
    """Yield each event (event_of a file) seen under results/ for the first time, until ``proc``
    exits. Every 20 ms: the kills wait up to 0.3 s more anyway, and a shorter poll takes more of
    the cores from the run it watches."""
    results = workdir / "results"
    while proc.poll() is None:
        for event in sorted({event_of(path) for path in _files(results)} - seen):
            seen.add(event)
            yield event
        time.sleep(poll)


def start(workdir: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        snakemake_command(workdir, *args),
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: one SIGKILL takes Snakemake and every job
        env=env,
    )


def file_events(workdir: Path, args: list[str]) -> tuple[list[str], list[float], float]:
    """An uninterrupted run: the files in the order they first appeared, the seconds after its
    start when each appeared, and its wall time."""
    started = time.monotonic()
    proc = start(workdir, *args)
    seen: set[str] = set()
    events, times = [], []
    for event in watch_new_files(workdir, proc, seen):
        events.append(event)
        times.append(time.monotonic() - started)
    if proc.wait() != 0:
        raise RuntimeError(f"the reference run failed; see {workdir}/results/logs")
    seconds = time.monotonic() - started
    last = sorted({event_of(p) for p in _files(workdir / "results")} - seen)
    return events + last, times + [seconds] * len(last), seconds


def kill_chain(
    workdir: Path, args: list[str], plan: list[tuple[int, str | None]], seed: int, events: list[str]
) -> list[Kill]:
    """Run the workflow and SIGKILL it at the moments of ``plan`` (positions in ``events``, the
    reference run's stream of new files, from ``kill_plan``), each after a random delay of up to
    0.3 s, so that kills land inside writes and epochs, each time recovering as the README says.
    The run's progress is the furthest reference position among the files it has written: its own
    stream drifts from the reference's both ways (temporary files of interrupted writes are new
    files, and files a recovery writes again are not), so a count of its files could stop short
    of the plan's last moments and end with fewer kills. Each of KILL_PHASES that no kill has
    reached yet is killed at its first event instead, in place of the plan's last moment, so a
    short phase is not stepped over. len(plan) kills, more only where phases outlast the plan;
    returns them; the run is complete at the end."""
    rng = random.Random(seed)
    counts = sorted(moment for moment, _ in plan)
    position_in_reference = {event: index for index, event in enumerate(events, start=1)}
    phases = set(KILL_PHASES)
    kills: list[Kill] = []
    seen: set[str] = set()
    position, started = 0, time.monotonic()
    proc = start(workdir, *args)
    while True:
        killed = False
        for path in watch_new_files(workdir, proc, seen):
            position = max(position, position_in_reference.get(path, position))
            aimed = next((phase for phase in phases if phase_of(path).startswith(phase)), None)
            if aimed or (counts and position >= counts[0]):
                phases = {phase for phase in phases if not phase_of(path).startswith(phase)}
                if counts:  # a planned moment, or an aimed kill that takes the last one's place
                    counts.pop(0 if position >= counts[0] else -1)
                time.sleep(rng.uniform(0, 0.3))
                if proc.poll() is not None:
                    break
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                kills.append(Kill(len(kills) + 1, round(time.monotonic() - started, 2), path, phase_of(path)))
                killed = True
                break
        if not killed:
            if proc.wait() == 0:
                return kills
            # the run failed by itself: that is a recovery failure of the last kill
            if kills:
                kills[-1].recovered = False
            return kills
        # The README: after a hard kill, the same command once with --unlock, then --rerun-incomplete.
        unlock = run(workdir, *args, "--unlock")
        if unlock.returncode != 0:
            kills[-1].recovered = False
            return kills
        proc = start(workdir, *args, "--rerun-incomplete")


def _read_csv_without(path: Path, column: str) -> list[list[str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    if not rows or column not in rows[0]:
        return rows
    drop = rows[0].index(column)
    return [row[:drop] + row[drop + 1 :] for row in rows]


# A run card records when a run trained and where it was interrupted: that may differ, nothing else.
RUN_CARD_TIMES = ("started", "finished", "seconds", "resumed_after_epochs")


def _run_card_without_times(path: Path) -> dict:
    card = json.loads(path.read_text())
    card["training"] = {k: v for k, v in card["training"].items() if k not in RUN_CARD_TIMES}
    return card


def _h5_arrays(path: Path) -> dict[str, bytes]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()].tobytes()) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def _keras_weights(path: Path) -> dict[str, bytes]:
    """The weights of a native .keras model (a zip archive with model.weights.h5 inside)."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return _h5_arrays(io.BytesIO(archive.read("model.weights.h5")))


# Outputs that legitimately differ between two runs: wall times, and logs.
VOLATILE = ("results/logs/", "results/benchmarks/", "results/tensorboard/", "results/report/")


def compare_outputs(reference: Path, other: Path) -> dict:
    """Every output of ``reference`` must exist in ``other`` with the same content; histories are
    compared without their ``seconds`` column and models by their weights."""
    different, missing, lost = [], [], 0
    ref_files = {p for p in _files(reference / "results") if not p.startswith(VOLATILE)}
    other_files = {p for p in _files(other / "results") if not p.startswith(VOLATILE)}
    for path in sorted(ref_files):
        a, b = reference / path, other / path
        if path not in other_files:
            missing.append(path)
            lost += a.stat().st_size
            continue
        if path.startswith("results/history/"):
            same = _read_csv_without(a, "seconds") == _read_csv_without(b, "seconds")
        elif path.startswith("results/models/") and path.endswith(".json"):
            same = _run_card_without_times(a) == _run_card_without_times(b)
        elif path.endswith(".h5"):
            same = _h5_arrays(a) == _h5_arrays(b)
        elif path.endswith(".keras"):  # its metadata.json holds the time it was saved
            same = _keras_weights(a) == _keras_weights(b)
        else:
            same = a.read_bytes() == b.read_bytes()
        if not same:
            different.append(path)
            lost += a.stat().st_size
    leftovers = sorted(p for p in other_files - ref_files)
    return {
        "compared": len(ref_files),
        "different": different,
        "missing": missing,
        "extra": leftovers,
        "bytes_lost": lost,
    }


# The last files of a run (the last plots, the tables, the report) appear within moments of its end,
# and an interrupted run, whose last jobs may run in another order, can write them all in its last
# second: a kill planned there may find the run already finished (one CI run ended with 19 of 20
# kills). So the kills spread over the events of the reference's first 90 percent of its time.
END_SHARE = 0.1

# Every kill run lands at least one kill in each of these phases (tests/test_fault_suite.py).
KILL_PHASES = ("download", "split", "cache", "training", "evaluation", "plotting")


def kill_plan(events: list[str], times: list[float], kills: int) -> list[tuple[int, str | None]]:
    """``kills`` (moment, phase) pairs: moments are distinct 1-based indices into the reference run's
    stream of file events (appearing at ``times``), spread evenly from the first event to the last
    one before the run's last END_SHARE of its time (phase None), and, for each of KILL_PHASES that
    none of those falls in, the middle event of that phase (with the phase) in place of one of the
    even ones. An even spread alone can step over a phase of a few events (an evaluation writes
    four files)."""
    last = sum(1 for moment in times if moment <= (1 - END_SHARE) * times[-1])
    if last < kills:
        raise ValueError(f"the reference run wrote {len(events)} file events: too few for {kills} kills")
    for spread in range(kills, 0, -1):
        plan = {1 + round(i * (last - 1) / max(spread - 1, 1)): None for i in range(spread)}
        for phase in KILL_PHASES:
            in_phase = [i for i in range(1, last + 1) if phase_of(events[i - 1]).startswith(phase)]
            if in_phase and not any(phase_of(events[m - 1]).startswith(phase) for m in plan):
                plan[in_phase[len(in_phase) // 2]] = phase
        if len(plan) <= kills:
            break
    return sorted(plan.items())


def kill_moments(events: list[str], times: list[float], kills: int) -> list[int]:
    return [moment for moment, _ in kill_plan(events, times, kills)]


def kill_suite(root: Path, kills: int, seed: int, reference: Reference) -> dict:
    plan = kill_plan(reference.events, reference.times, kills)
    interrupted = make_workdir(root, "interrupted")
    started = time.monotonic()
    chain = kill_chain(interrupted, reference.args, plan, seed, reference.events)
    chain_seconds = time.monotonic() - started
    comparison = compare_outputs(reference.workdir, interrupted)
    phases: dict[str, int] = {}
    for kill in chain:
        phases[kill.phase] = phases.get(kill.phase, 0) + 1
    return {
        "reference_seconds": round(reference.seconds, 1),
        "file_events": len(reference.events),
        "kills_planned": kills,
        "kills": [asdict(k) for k in chain],
        "kills_survived": sum(k.recovered for k in chain),
        "kills_by_phase": phases,
        "interrupted_seconds": round(chain_seconds, 1),
        "comparison": comparison,
    }


# ---------------------------------------------------------------------------------------------
# 2. Bad inputs


@dataclass
class BadInput:
    name: str
    kind: str  # archive, image, config
    expected: str  # a substring of the one-line message (or of the drop reason, for images)
    refused: bool = False
    one_line: bool = False
    nothing_complete: bool = False
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.refused and self.one_line and self.nothing_complete


def _error_lines(workdir: Path, proc: subprocess.CompletedProcess) -> list[str]:
    """The workflow's own error lines: from job logs (ERROR ...) and Snakemake's config errors."""
    lines = []
    for log in sorted((workdir / "results" / "logs").rglob("*.log")):
        lines += error_messages(log.read_text())
    output = proc.stdout + proc.stderr
    lines += [line for line in output.splitlines() if line.startswith("config: ")]
    return lines


def _tracebacks(workdir: Path) -> bool:
    return any("Traceback" in log.read_text() for log in (workdir / "results" / "logs").rglob("*.log"))


# outputs that would look complete after a failed data or model step
COMPLETE_LOOKING = (
    MANIFEST,
    "results/data/provenance.json",
    "results/data/dropped.tsv",
    "results/data/train",
    "results/cache",
    "results/models/baseline/seed1.h5",
)


def _bad_archives(folder: Path) -> list[tuple[str, Path, str]]:
    files = image_files("kaggle", 6)
    truncated_zip = write_zip(folder / "truncated.zip", files)
    truncated_zip.write_bytes(truncated_zip.read_bytes()[: truncated_zip.stat().st_size // 2])
    truncated_tar = write_tar(folder / "truncated.tar.gz", files)
    truncated_tar.write_bytes(truncated_tar.read_bytes()[: truncated_tar.stat().st_size // 2])
    html = folder / "login.zip"
    html.write_text("<html><body>Please log in to download</body></html>")
    empty = folder / "empty.zip"
    empty.write_bytes(b"")
    duplicate = write_zip(folder / "duplicate.zip", files)
    import zipfile

    with zipfile.ZipFile(duplicate, "a") as zf, __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        zf.writestr("train/cat.0.jpg", jpeg_bytes(5))
    few = write_zip(folder / "few.zip", image_files("kaggle", 3, faults=False))
    return [
        ("zip bomb", zip_bomb(folder / "bomb.zip"), "zip bomb"),
        ("tar.gz bomb", tar_bomb(folder / "bomb.tar.gz"), "zip bomb"),
        (
            "path traversal in a zip",
            zip_with_traversal(folder / "traversal.zip", files),
            "outside the target folder",
        ),
        ("symbolic link in a zip", zip_with_symlink(folder / "link.zip", files), "is a link"),
        ("symbolic link in a tar", tar_with_symlink(folder / "link.tar", files), "is a link"),
        ("a damaged zip entry", damaged_zip_entry(folder / "damaged.zip", files), "the archive is damaged"),
        ("truncated zip", truncated_zip, "damaged zip archive"),
        ("truncated tar.gz", truncated_tar, "damaged"),
        ("a web page saved as .zip", html, "neither a zip nor a tar"),
        ("an empty file", empty, "neither a zip nor a tar"),
        ("an entry twice", duplicate, "appears twice"),
        ("too few images for the split", few, "usable images but data.split asks for"),
    ]


def _bad_configs(archive: str) -> list[tuple[str, list[str], str, str]]:
    """(name, --config values, target, message)."""
    data = f"data={{path: {archive}}}"
    return [
        ("unknown top-level key", [data, "foo=1"], MANIFEST, "unknown key 'foo' at the top level"),
        ("misspelt data key", ["data={spilt: {train: 1}}"], MANIFEST, "unknown key 'spilt' in data"),
        ("epochs as a word", [data, "experiments={baseline: {epochs: ten}}"], MANIFEST, 'epochs is "ten"'),
        (
            "batch size 0",
            [data, "experiment_defaults={batch_size: 0}"],
            MANIFEST,
            "batch_size is 0 but must be",
        ),
        ("unknown data source", ["data={source: ftp}"], MANIFEST, 'data.source is "ftp" but must be one of'),
        (
            "local source without a path",
            ["data={source: local, path: null}"],
            MANIFEST,
            "data.path is not set",
        ),
        (
            "a path that does not exist",
            ["data={path: nowhere.zip}"],
            MANIFEST,
            "data.path 'nowhere.zip' does not exist",
        ),
        (
            "a class named twice",
            [f"data={{path: {archive}, classes: {{cats: cat, dogs: cat}}}}"],
            MANIFEST,
            "names a class twice",
        ),
        ("a malformed sha256", [f"data={{path: {archive}, sha256: abc}}"], MANIFEST, 'data.sha256 is "abc"'),
        ("a wrong sha256", [f"data={{path: {archive}, sha256: {'0' * 64}}}"], MANIFEST, "sha256 is"),
        (
            "both shear units",
            [data, "experiments={augmented: {augmentation: {shear_radians: 0.2, shear_degrees: 5}}}"],
            MANIFEST,
            "sets both shear_radians and shear_degrees",
        ),
        (
            "image too small for the model",
            [data, "experiment_defaults={image_size: [30, 30]}"],
            "results/models/baseline_summary.tsv",
            "too small for 4 convolution blocks",
        ),
        (
            "architecture changed, expect kept",
            [data, "experiment_defaults={image_size: [50, 50], expect: {params: 1}}"],
            "results/models/baseline_summary.tsv",
            "outputs 48 but experiments.baseline.expect.shapes expects 148",
        ),
    ]


def _check_failed_run(workdir: Path, proc: subprocess.CompletedProcess, case: BadInput) -> BadInput:
    lines = _error_lines(workdir, proc)
    matching = [line for line in lines if case.expected in line]
    case.refused = proc.returncode != 0
    case.message = matching[0] if matching else (lines[0] if lines else (proc.stdout + proc.stderr)[-300:])
    case.one_line = bool(matching) and not _tracebacks(workdir) and all("\n" not in m for m in matching)
    case.nothing_complete = not any((workdir / path).exists() for path in COMPLETE_LOOKING)
    return case


BAD_IMAGES = {  # file in the archive -> what dropped.tsv must say
    "empty": "empty file",
    "truncated": "not decodable",
    "png named .jpg": "PNG data named .jpg",
    "no JFIF marker": "no JFIF marker",
    "a web page named .jpg": "not an image",
    "Thumbs.db": "not in a configured class",
    "a text file named cat.N.txt": "not an image file name",
    "over 64 MiB": "too large",
}


def bad_input_suite(root: Path) -> list[BadInput]:
    folder = root / "bad"
    folder.mkdir(parents=True)
    cases: list[BadInput] = []
    template = make_workdir(root, "bad-template")
    for name, archive, expected in _bad_archives(folder):
        workdir = root / f"bad-{len(cases)}"
        shutil.copytree(template, workdir)
        proc = run(workdir, MANIFEST, *TINY, "--config", f"data={{path: '{archive}'}}")
        cases.append(_check_failed_run(workdir, proc, BadInput(name, "archive", expected)))
    good = pets_archive(folder / "good")
    for name, values, target, expected in _bad_configs(str(good)):
        workdir = root / f"bad-{len(cases)}"
        shutil.copytree(template, workdir)
        proc = run(workdir, target, *TINY, "--config", *values)
        cases.append(_check_failed_run(workdir, proc, BadInput(name, "config", expected)))

    # Bad images are not errors: each is dropped with its reason, and the split goes on.
    files = image_files("kaggle", 8, faults=False)
    good_jpeg = jpeg_bytes(3)
    bad = {
        "empty": b"",
        "truncated": good_jpeg[: len(good_jpeg) // 2],
        "png named .jpg": png_bytes(1),
        "no JFIF marker": jpeg_bytes(2, exif_only=True),
        "a web page named .jpg": b"<html>log in</html>",
        "Thumbs.db": b"\x00" * 64,
        "a text file named cat.N.txt": b"notes",
    }
    names = {kind: f"train/cat.{100 + i}.jpg" for i, kind in enumerate(bad)}
    names["Thumbs.db"] = "train/Thumbs.db"
    names["a text file named cat.N.txt"] = "train/cat.300.txt"
    names["over 64 MiB"] = "train/cat.199.jpg"
    files.update({names[kind]: data for kind, data in bad.items()})
    archive = write_zip(folder / "bad-images.zip", files)
    import zipfile

    with zipfile.ZipFile(archive, "a", zipfile.ZIP_STORED) as zf:  # stored: not a zip bomb, just big
        zf.writestr(names["over 64 MiB"], b"\xff\xd8\xff\xe0" + bytes(65 << 20))
    workdir = root / "bad-images"
    shutil.copytree(template, workdir)
    checked(
        run(
            workdir,
            MANIFEST,
            *TINY,
            "--config",
            f"data={{path: '{archive}', split: {{train: 4, validation: 2, test: 2}}}}",
        )
    )
    dropped = dict(
        line.split("\t", 1) for line in (workdir / "results/data/dropped.tsv").read_text().splitlines()[1:]
    )
    for kind, expected in BAD_IMAGES.items():
        reason = dropped.get(names[kind], "")
        case = BadInput(f"image: {kind}", "image", expected, message=reason)
        case.refused = case.one_line = expected in reason and "\n" not in reason and " at 0x" not in reason
        case.nothing_complete = not (workdir / "results/data/train/cats" / Path(names[kind]).name).exists()
        cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------
# 3. Config keys: what each one reruns

# key changed -> (the rules `snakemake -n` must plan after a complete run, whose runs retrain).
# Every change reruns config_used, the report's copy of the config. RUNS: a run's training and
# everything after it (evaluation, its plots, the tables and curves over runs).
RUNS = {
    "train",
    "evaluate",
    "experiment_summary",
    "metrics_table",
    "plot_history",
    "plot_comparison",
    "plot_confusion",
    "plot_per_class",
    "plot_errors",
}
DATA = {"split_data", "cache_images", *RUNS}
# what reads a run's test-set metrics and predictions (not its training)
EVALUATION = RUNS - {"train", "plot_history"}
MODEL = {"model_summary", *RUNS}
NOTHING: set[str] = set()
EXPECTED_RERUNS: dict[str, tuple[set[str], str]] = {
    "data.url": ({"download_data", *DATA}, "both"),
    "data.sha256 (the archive's own)": (NOTHING, "none"),
    "data.download.retries": (NOTHING, "none"),
    "data.download.timeout_s": (NOTHING, "none"),
    "data.kaggle_competition (source: url)": (NOTHING, "none"),
    "compute.cpu_fallback": (NOTHING, "none"),
    "compute.accelerator": (NOTHING, "none"),
    # the errors sheets without their heatmaps: drawn again, nothing else
    "heatmaps": ({"plot_errors"}, "none"),
    "data.layout": (DATA, "both"),
    "data.classes": (DATA, "both"),
    "data.split": (DATA, "both"),
    "data.order": (DATA, "both"),
    "data.seed": (DATA, "both"),
    "data.require_jfif": (DATA, "both"),
    "data.exif_orientation": ({"cache_images", *RUNS}, "both"),
    "experiment_defaults.class_weight": (RUNS, "both"),
    "experiment_defaults.image_size": ({"cache_images", *MODEL}, "both"),
    # the baseline sets its own (bilinear); the augmented run moves onto the baseline's cache
    "experiment_defaults.resize_interpolation (baseline sets its own)": (RUNS, "augmented"),
    # ...and back: the baseline onto the augmented run's
    "experiments.baseline.resize_interpolation": (RUNS, "baseline"),
    "experiment_defaults.conv_filters": (MODEL, "both"),
    "experiment_defaults.dense_units": (MODEL, "both"),
    "experiment_defaults.dropout (augmented sets its own)": (MODEL, "baseline"),
    "experiment_defaults.learning_rate": (RUNS, "both"),
    "experiment_defaults.rmsprop_epsilon (baseline sets its own)": (RUNS, "augmented"),
    "experiment_defaults.optimizer": (RUNS, "both"),
    "experiment_defaults.weight_decay": (RUNS, "both"),
    "experiment_defaults.learning_rate_schedule": (RUNS, "both"),
    "experiment_defaults.label_smoothing": (RUNS, "both"),
    "experiment_defaults.warmup_epochs": (RUNS, "both"),
    "experiment_defaults.learning_rate_floor": (RUNS, "both"),
    "experiment_defaults.ema": (RUNS, "both"),
    "experiment_defaults.mix": (RUNS, "both"),
    "experiment_defaults.architecture": (MODEL, "both"),
    "experiment_defaults.test_time_augmentation": (EVALUATION, "none"),
    "experiment_defaults.batch_size (augmented sets its own)": (RUNS, "baseline"),
    "experiment_defaults.steps_per_epoch (augmented sets its own)": (RUNS, "baseline"),
    "experiment_defaults.precision": (RUNS, "both"),
    "experiment_defaults.expect": (MODEL, "both"),
    "experiment_defaults.seeds (one added)": (RUNS, "both"),
    "epochs (both experiments)": (RUNS, "both"),
    "experiments.augmented.epochs": (RUNS, "augmented"),
    "experiments.augmented.steps_per_epoch": (RUNS, "augmented"),
    "experiments.augmented.dropout": (MODEL, "augmented"),
    "experiments.augmented.augmentation.method": (MODEL, "augmented"),
    "experiments.augmented.augmentation.interpolation": (MODEL, "augmented"),
    "experiments.augmented.augmentation.rotation_degrees": (MODEL, "augmented"),
    "experiments.augmented.augmentation.width_shift": (MODEL, "augmented"),
    "experiments.augmented.augmentation.height_shift": (MODEL, "augmented"),
    "experiments.augmented.augmentation.shear_radians": (MODEL, "augmented"),
    "experiments.augmented.augmentation.zoom": (MODEL, "augmented"),
    "experiments.augmented.augmentation.zoom_keep_aspect": (MODEL, "augmented"),
    "experiments.augmented.augmentation.horizontal_flip": (MODEL, "augmented"),
    "experiments.augmented.augmentation.vertical_flip": (MODEL, "augmented"),
    "experiments.augmented.augmentation.fill_mode": (MODEL, "augmented"),
    "experiments (a third added)": (MODEL, "wider"),
}
# Schema keys this part does not change, and why (tests/test_config_keys.py: every key of the
# schema has a row above or a line here).
RESIDUAL_ONLY = (
    "the residual family's; a model key as conv_filters is (ARCHITECTURE_KEYS: ModelSettings' fields)"
)
NOT_IN_KEY_SUITE = {
    "data.source": "where the archive comes from: the row data.url changes the archive the same way",
    "data.path": "the archive of source: local; the row data.url changes the archive the same way",
    "pretrained.weights": "not a rule parameter: tests/test_pretrained.py pins the hash and reruns nothing",
    "predict": "adds prediction targets and reruns nothing trained: tests/test_pretrained.py, tests/test_workflow_e2e.py",
    "sweeps": "a sweep adds runs of its own and reruns none of the experiments': tests/test_sweeps.py",
    "experiment.stem_filters": RESIDUAL_ONLY,
    "experiment.stem_kernel": RESIDUAL_ONLY,
    "experiment.stem_stride": RESIDUAL_ONLY,
    "experiment.separable": RESIDUAL_ONLY,
    "experiment.convs_per_block": RESIDUAL_ONLY,
    "experiment.base": "a pretrained base needs its weights: tests/test_pretrained.py",
    "experiment.init_from": "a run that starts from another's model: tests/test_pretrained.py",
    "experiment.based_on": "another experiment's settings: the merged settings decide (tests/test_beyond.py)",
    "experiment.augmentation": "each of its keys has a row of its own",
    "augmentation.shear_degrees": "the angle of shear_radians in other units (convnet.core.settings.Augmentation.of)",
}
RUNS_OF = {"none": 0, "baseline": 1, "augmented": 1, "wider": 1, "both": 2}


def _changes(url: str, digest: str) -> dict[str, list[str]]:
    """key -> the --config values that change only that key against the suite's run."""
    data = f"source: url, url: '{url}'"

    def experiments(baseline: str = "", augmented: str = "", extra: str = "") -> list[str]:
        return [
            f"experiments={{baseline: {{epochs: 3{baseline}}}, augmented: {{epochs: 3, steps_per_epoch: 3{augmented}}}{extra}}}"
        ]

    def augmentation(change: str) -> list[str]:
        return experiments(augmented=f", augmentation: {{{change}}}")

    def defaults(change: str) -> list[str]:
        return [f"data={{{data}}}", f"experiment_defaults={{{change}}}", EPOCHS]

    def data_change(change: str) -> list[str]:
        return [f"data={{{data}, {change}}}", EPOCHS]

    return {
        "data.url": [f"data={{{data.replace('pets.zip', 'pets2.zip')}}}", EPOCHS],
        "data.sha256 (the archive's own)": data_change(f"sha256: {digest}"),
        "data.download.retries": data_change("download: {retries: 1}"),
        "data.download.timeout_s": data_change("download: {timeout_s: 9}"),
        "data.kaggle_competition (source: url)": data_change("kaggle_competition: other"),
        "compute.cpu_fallback": [f"data={{{data}}}", "compute={cpu_fallback: true}", EPOCHS],
        "compute.accelerator": [f"data={{{data}}}", "compute={accelerator: cuda}", EPOCHS],
        "heatmaps": [f"data={{{data}}}", "heatmaps=false", EPOCHS],
        "data.layout": data_change("layout: kaggle"),
        "data.classes": data_change("classes: {cats: CAT, dogs: dog}"),
        "data.split": data_change("split: {train: 10, validation: 6, test: 6}"),
        "data.order": data_change("order: shuffle"),
        "data.seed": data_change("seed: 7"),
        "data.require_jfif": data_change("require_jfif: false"),
        "data.exif_orientation": data_change("exif_orientation: false"),
        "experiment_defaults.class_weight": defaults("class_weight: balanced"),
        "experiment_defaults.image_size": defaults("image_size: [48, 48]"),
        "experiment_defaults.resize_interpolation (baseline sets its own)": defaults(
            "resize_interpolation: bilinear"
        ),
        "experiments.baseline.resize_interpolation": [
            f"data={{{data}}}",
            *experiments(baseline=", resize_interpolation: nearest"),
        ],
        "experiment_defaults.conv_filters": defaults("conv_filters: [4, 4, 4, 8]"),
        "experiment_defaults.dense_units": defaults("dense_units: 9"),
        "experiment_defaults.dropout (augmented sets its own)": defaults("dropout: 0.25"),
        "experiment_defaults.learning_rate": defaults("learning_rate: 2.0e-3"),
        "experiment_defaults.rmsprop_epsilon (baseline sets its own)": defaults("rmsprop_epsilon: 1.0e-7"),
        "experiment_defaults.optimizer": defaults("optimizer: adam"),
        "experiment_defaults.weight_decay": defaults("weight_decay: 0.01"),
        "experiment_defaults.learning_rate_schedule": defaults("learning_rate_schedule: cosine"),
        "experiment_defaults.label_smoothing": defaults("label_smoothing: 0.1"),
        "experiment_defaults.warmup_epochs": defaults("warmup_epochs: 1"),
        "experiment_defaults.learning_rate_floor": defaults("learning_rate_floor: 0.5"),
        "experiment_defaults.ema": defaults("ema: 0.9"),
        "experiment_defaults.mix": defaults("mix: {method: cutmix}"),
        "experiment_defaults.architecture": defaults("architecture: residual"),
        "experiment_defaults.test_time_augmentation": defaults("test_time_augmentation: true"),
        "experiment_defaults.batch_size (augmented sets its own)": defaults("batch_size: 4"),
        "experiment_defaults.steps_per_epoch (augmented sets its own)": defaults("steps_per_epoch: 2"),
        "experiment_defaults.precision": defaults("precision: mixed_bfloat16"),
        "experiment_defaults.expect": defaults("expect: {params: 1000000}"),
        "experiment_defaults.seeds (one added)": defaults("seeds: [1, 2]"),
        "epochs (both experiments)": [f"data={{{data}}}", *experiments(", epochs: 4", ", epochs: 4")],
        "experiments.augmented.epochs": [f"data={{{data}}}", *experiments(augmented=", epochs: 4")],
        "experiments.augmented.steps_per_epoch": [
            f"data={{{data}}}",
            *experiments(augmented=", steps_per_epoch: 2"),
        ],
        "experiments.augmented.dropout": [f"data={{{data}}}", *experiments(augmented=", dropout: 0.25")],
        "experiments.augmented.augmentation.method": [f"data={{{data}}}", *augmentation("method: layers")],
        "experiments.augmented.augmentation.interpolation": [
            f"data={{{data}}}",
            *augmentation("interpolation: bilinear"),
        ],
        "experiments.augmented.augmentation.rotation_degrees": [
            f"data={{{data}}}",
            *augmentation("rotation_degrees: 10"),
        ],
        "experiments.augmented.augmentation.width_shift": [
            f"data={{{data}}}",
            *augmentation("width_shift: 0.1"),
        ],
        "experiments.augmented.augmentation.height_shift": [
            f"data={{{data}}}",
            *augmentation("height_shift: 0.1"),
        ],
        "experiments.augmented.augmentation.shear_radians": [
            f"data={{{data}}}",
            *augmentation("shear_radians: 0.1"),
        ],
        "experiments.augmented.augmentation.zoom": [f"data={{{data}}}", *augmentation("zoom: 0.1")],
        "experiments.augmented.augmentation.zoom_keep_aspect": [
            f"data={{{data}}}",
            *augmentation("zoom_keep_aspect: true"),
        ],
        "experiments.augmented.augmentation.vertical_flip": [
            f"data={{{data}}}",
            *augmentation("vertical_flip: true"),
        ],
        "experiments.augmented.augmentation.horizontal_flip": [
            f"data={{{data}}}",
            *augmentation("horizontal_flip: false"),
        ],
        "experiments.augmented.augmentation.fill_mode": [
            f"data={{{data}}}",
            *augmentation("fill_mode: reflect"),
        ],
        "experiments (a third added)": [
            f"data={{{data}}}",
            *experiments(extra=", wider: {epochs: 3, dense_units: 9}"),
        ],
    }


def planned_rules(proc: subprocess.CompletedProcess) -> dict[str, int]:
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out[out.index("Job stats:") :]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
        if m.group(1) not in ("total", "all")
    }


def config_key_suite(reference: Reference) -> list[dict]:
    """Dry runs in the finished reference run, one changed key each: they change none of its files."""
    rows = []
    for key, values in _changes(reference.url, reference.digest).items():
        rules, touched = EXPECTED_RERUNS[key]
        expected = {*rules, "config_used"}
        proc = run(reference.workdir, "-n", *TINY, "--config", *values)
        if proc.returncode != 0:
            rows.append({"key": key, "ok": False, "error": (proc.stdout + proc.stderr)[-600:]})
            continue
        planned = planned_rules(proc)
        ok = set(planned) == expected and planned.get("train", 0) == RUNS_OF[touched]
        rows.append({"key": key, "planned": planned, "expected": sorted(expected), "runs": touched, "ok": ok})
    return rows


# ---------------------------------------------------------------------------------------------
# 4. Faults that clusters bring: a damaged checkpoint, a full disk

# The reference trains baseline for 3 epochs: killed once epoch 2 is committed, one epoch is left.
DAMAGE_AFTER = 2
TRAINED = "results/history/baseline/seed1.csv"
CHECKPOINT = "results/checkpoints/baseline/seed1"


def _committed_epoch(state: Path) -> int:
    try:
        return json.loads(state.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _kill_after_epoch(workdir: Path, args: list[str], epoch: int) -> int:
    """Start the training of baseline seed 1 and SIGKILL the whole run once ``epoch`` is
    committed to its checkpoint; the epoch it had committed when it died (0: it ended first)."""
    state = workdir / CHECKPOINT / "state.json"
    proc = start(workdir, TRAINED, *args)
    while proc.poll() is None:
        if _committed_epoch(state) >= epoch:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return _committed_epoch(state)
        time.sleep(0.005)
    return 0


def damaged_checkpoint_suite(root: Path, reference: Reference) -> list[dict]:
    """A copy of the reference run whose baseline training is killed after epoch DAMAGE_AFTER,
    then its newest weights file cut to 1,000 bytes (a node that died while a network file system
    was still writing), or the two newest: the same command resumes from the newest intact epoch
    (or starts over), says so in one log line, and ends with the history and weights of the
    uninterrupted reference."""
    args = reference.args
    cases = []
    for damaged, expected in ((1, "instead"), (2, "starting over")):
        workdir = copy_of(reference, root / f"damaged-{damaged}")  # the split, caches and model check
        for output in ("history/baseline/seed1.csv", "models/baseline/seed1.h5"):
            (workdir / "results" / output).unlink()
        epoch = _kill_after_epoch(workdir, args, DAMAGE_AFTER)
        for back in range(damaged):
            weights = workdir / CHECKPOINT / f"epoch-{epoch - back}.weights.h5"
            if weights.exists():
                weights.write_bytes(weights.read_bytes()[:1000])
        run(workdir, *args, "--unlock")
        proc = run(workdir, TRAINED, *args, "--rerun-incomplete")
        log = workdir / "results" / "logs" / "train" / "baseline" / "seed1.log"
        lines = (
            [line for line in log.read_text().splitlines() if "is damaged" in line] if log.exists() else []
        )
        same = proc.returncode == 0 and _read_csv_without(workdir / TRAINED, "seconds") == _read_csv_without(
            reference.workdir / TRAINED, "seconds"
        )
        model = "results/models/baseline/seed1.h5"
        same = same and _h5_arrays(workdir / model) == _h5_arrays(reference.workdir / model)
        cases.append(
            {
                "damaged_epochs": [epoch - back for back in range(damaged)],
                "killed_after_epoch": epoch,
                "log_line": lines[0].split(" WARNING ", 1)[-1] if lines else "",
                "ok": epoch >= DAMAGE_AFTER and len(lines) == 1 and expected in lines[0] and same,
                "same_history_and_weights": same,
            }
        )
    return cases


DISK_FULL_LINE = "no space left on its disk"


def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None and sys.platform.startswith("linux")


def _fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its disk is full."""
    filler = folder / ".filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while os.write(descriptor, b"\0" * (1 << 16)):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(descriptor)
    return filler


def one_job_of_each_rule(workdir: Path, args: list[str]) -> dict[str, list[str]]:
    """The outputs of one job of each rule of the finished run: of the job whose log sorts first
    (``snakemake --summary`` names each output's rule and log; every rule has a log, one per job).
    The jobs of a rule run the same code, and each one left to fail costs a process start."""
    jobs: dict[str, dict[str, list[str]]] = {}
    out = checked(run(workdir, "--summary", *args)).stdout
    for line in out.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0].startswith("results/"):
            jobs.setdefault(fields[2], {}).setdefault(fields[3], []).append(fields[0])
    return {rule: outputs[min(outputs)] for rule, outputs in jobs.items()}


def disk_full_suite(root: Path, reference: Reference) -> list[dict]:
    """A copy of the reference run with results/ on a small tmpfs: for each rule, one job's outputs
    removed and the disk filled, then the same command. Every rule that writes must stop with the
    one line that names its folder and the fix (no traceback) and leave none of its outputs; they
    are then put back as they were, and at the end the run is up to date again."""
    workdir = root / "disk"
    snapshot = reference.workdir / "results"
    results = copy_of(reference, workdir) / "results"
    shutil.rmtree(results)  # it goes onto the tmpfs
    results.mkdir()
    args = reference.args
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(results)], check=True)
    cases = []
    try:
        shutil.copytree(snapshot, results, symlinks=True, dirs_exist_ok=True)
        for rule, outputs in sorted(one_job_of_each_rule(workdir, args).items()):
            for output in outputs:
                path = workdir / output
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            filler = _fill(results)
            proc = run(workdir, *outputs, *args)  # as targets: an intermediate file is not redone otherwise
            filler.unlink()
            output = proc.stdout + proc.stderr
            # the job's line on the terminal ("error: <message>"; in its log "... ERROR <message>")
            lines = [
                line.split(" ERROR ", 1)[-1].removeprefix("error: ")
                for line in output.splitlines()
                if DISK_FULL_LINE in line
            ]
            left = [o for o in outputs if (workdir / o).exists()]
            cases.append(
                {
                    "rule": rule,
                    "message": lines[0] if lines else output[-300:],
                    "ok": proc.returncode != 0
                    and bool(lines)
                    and lines[0].startswith("results/")
                    and "Traceback (most recent call last)" not in output
                    and not left,
                    "left_behind": left,
                }
            )
            for output in outputs:  # back as they were, times included: nothing to rerun
                source, target = snapshot / Path(output).relative_to("results"), workdir / output
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
        plan = run(workdir, "-n", *args)
        cases.append(
            {
                "rule": "(after every case)",
                "message": "nothing to rerun" if "Nothing to be done" in plan.stdout else plan.stdout[-300:],
                "ok": "Nothing to be done" in plan.stdout,
                "left_behind": [],
            }
        )
    finally:
        subprocess.run(["umount", str(results)], check=False)
    return cases


# ---------------------------------------------------------------------------------------------


def _run_parts(args: argparse.Namespace, root: Path, reference: Reference | None) -> tuple[dict, bool]:
    report: dict = {}
    ok = True
    if "kills" in args.parts:
        result = kill_suite(root / "kills", args.kills, args.seed, reference)
        report["kills"] = result
        cmp = result["comparison"]
        print(
            f"kills: {result['kills_survived']} survived of {len(result['kills'])} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(result['kills_by_phase'].items()))}); "
            f"outputs compared {cmp['compared']}, different {len(cmp['different'])}, missing "
            f"{len(cmp['missing'])}, bytes lost {cmp['bytes_lost']}; reference run {result['reference_seconds']} s, "
            f"interrupted run {result['interrupted_seconds']} s"
        )
        ok &= result["kills_survived"] == len(result["kills"]) >= min(args.kills, 20)
        ok &= not (cmp["different"] or cmp["missing"])
    if "bad" in args.parts:
        cases = bad_input_suite(root / "bad")
        report["bad_inputs"] = [dict(asdict(c), ok=c.ok) for c in cases]
        print(f"bad inputs: {sum(c.ok for c in cases)} refused cleanly of {len(cases)}")
        for case in cases:
            if not case.ok:
                print(f"  FAILED {case.kind} {case.name!r}: {case}")
        ok &= all(c.ok for c in cases)
    if "keys" in args.parts:
        rows = config_key_suite(reference)
        report["config_keys"] = rows
        print(f"config keys: {sum(r['ok'] for r in rows)} rerun exactly what they affect, of {len(rows)}")
        for row in rows:
            if not row["ok"]:
                print(f"  FAILED {row['key']}: {row}")
        ok &= all(r["ok"] for r in rows)
    if "damaged" in args.parts:
        cases = damaged_checkpoint_suite(root / "damaged", reference)
        report["damaged_checkpoints"] = cases
        print(f"damaged checkpoints: {sum(c['ok'] for c in cases)} recovered of {len(cases)}")
        for case in cases:
            print(
                f"  {'ok' if case['ok'] else 'FAILED'}: epochs {case['damaged_epochs']}: {case['log_line']}"
            )
        ok &= all(c["ok"] for c in cases)
    if "disk" in args.parts:
        if can_mount_tmpfs():
            cases = disk_full_suite(root / "disk", reference)
            report["disk_full"] = cases
            print(f"full disk: {sum(c['ok'] for c in cases)} of {len(cases)} rules stopped with one line")
            for case in cases:
                if not case["ok"]:
                    print(f"  FAILED {case['rule']}: {case}")
            ok &= all(c["ok"] for c in cases)
        else:
            print("full disk: skipped (mounting a tmpfs needs root on Linux)")
    return report, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=40, help="SIGKILLs spread over one run (at least 20)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the delay after each kill moment")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["kills", "bad", "keys", "damaged", "disk"],
        choices=["kills", "bad", "keys", "damaged", "disk"],
    )
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--keep", type=Path, help="keep the work folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="convnet-faults-"))
    with ExitStack() as stack:
        reference = None
        if {"kills", "keys", "damaged", "disk"} & set(args.parts):
            reference = stack.enter_context(reference_run(root / "reference"))
        report, ok = _run_parts(args, root, reference)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
