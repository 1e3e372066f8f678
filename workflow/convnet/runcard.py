"""A run card: how one model was made, in JSON beside it (``results/models/{experiment}/seed{N}.json``)
and inside the ``.h5`` itself, so a model handed to a colleague still says where it came from:
settings, data, software, hardware, precision, code version, time and interruptions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .backend import cpu_flags, visible_gpus
from .files import atomic_write_text, sha256_of_file

H5_ATTRIBUTE = "convnet_run_card"
PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "numpy", "h5py", "pillow")
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_state(folder: Path) -> dict | None:
    """The project's commit, and whether the working tree had changes; None unless ``folder`` is
    the top of a git clone (a copy of the package inside a host workflow's repository is not
    that repository's code)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return None
        head, top = commit.stdout.split()
        if Path(top).resolve() != Path(folder).resolve():
            return None
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"commit": head, "changed_files": len(status.stdout.splitlines())}
    except (OSError, subprocess.SubprocessError):
        return None


def data_identity(provenance: Path | None, manifest: Path | None) -> dict:
    """The archive's sha256 (as the split recorded it) and the manifest's."""
    identity: dict = {}
    if provenance and Path(provenance).is_file():
        recorded = json.loads(Path(provenance).read_text())
        identity.update(
            {
                key: recorded.get(key)
                for key in ("source", "url", "path", "sha256", "bytes")
                if recorded.get(key)
            }
        )
        identity["archive_sha256"] = identity.pop("sha256", None)
    if manifest and Path(manifest).is_file():
        identity["manifest_sha256"] = sha256_of_file(manifest)[0]
    return identity


def hardware(threads: int | None) -> dict:
    import keras

    return {
        "backend": keras.backend.backend(),
        "gpus": visible_gpus(),
        "cpu": cpu_model(),
        "cpu_flags": sorted(cpu_flags() & set(CPU_FLAGS)),
        "cores": os.cpu_count(),
        "threads": threads,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "host": platform.node(),
    }


def run_card(
    experiment: str,
    settings: dict,
    precision: str,
    threads: int | None,
    data: dict,
    training: dict,
    project: Path | None,
) -> dict:
    return {
        "experiment": experiment,
        "seed": settings.get("seed"),
        "settings": settings,
        "precision": precision,
        "data": data,
        "training": training,
        "hardware": hardware(threads),
        "software": package_versions(),
        "project": git_state(project) if project else None,
    }


def write_run_card(card: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")


def embed(card: dict, h5_path: Path) -> None:
    """Store the card in the .h5 file's attributes (``h5py.File(path).attrs["convnet_run_card"]``)."""
    import h5py

    with h5py.File(h5_path, "a") as handle:
        handle.attrs[H5_ATTRIBUTE] = json.dumps(card, sort_keys=True, default=str)


def read_embedded(h5_path: Path) -> dict | None:
    import h5py

    with h5py.File(h5_path, "r") as handle:
        text = handle.attrs.get(H5_ATTRIBUTE)
    return json.loads(text) if text is not None else None
