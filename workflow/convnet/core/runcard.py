"""A run card: how one model was made, in JSON beside it (``results/models/{experiment}/seed{N}.json``)
and inside the ``.h5`` itself, so a model handed to a colleague still says where it came from:
settings, data, software, hardware, precision, code version, time and interruptions.

One typed record, ``RunCard``: the training fills it in when it ends (``convnet.learn.train``),
``RunCard.write`` and ``RunCard.embed`` are its one writer (JSON file, model attribute), and
``RunCard.read`` its one reader, which every consumer uses (predictions, their contact sheets, the
tables over runs). Standard library only, but for the ``.h5`` attribute (h5py, imported where it is
used): the plots and tables environments read cards too."""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import zipfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .errors import DataError
from .files import atomic_write_text, sha256_of_file

H5_ATTRIBUTE = "convnet_run_card"
# the card's key in an exported model's metadata (ONNX's metadata_props)
MODEL_METADATA_KEY = H5_ATTRIBUTE
# the card's member inside a native .keras model (a zip archive)
KERAS_MEMBER = "run_card.json"
PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "numpy", "h5py", "pillow")


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


# The distributions that may provide a package: TensorFlow's CPU build (requirements.txt) installs
# the same `tensorflow` module under another name.
DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


def package_versions() -> dict[str, str]:
    """Python's and each package's version; ``tensorflow_distribution`` names TensorFlow's build
    when it is not the ``tensorflow`` package itself."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        for distribution in DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
            if distribution != name:
                versions[f"{name}_distribution"] = distribution
            break
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


@dataclasses.dataclass(frozen=True)
class RunCard:
    """How one model was made. ``settings`` are the run's (``RunSettings.as_dict``), ``data`` its
    classes, counts and hashes, ``training`` its times, epochs and best epoch; ``checkpoint``
    says which saved model a card inside an ``.h5`` belongs to (``last`` or ``best``)."""

    experiment: str
    seed: int | None
    settings: dict
    precision: str
    data: dict
    training: dict
    hardware: dict
    software: dict
    project: dict | None
    checkpoint: str | None = None

    @property
    def classes(self) -> list[str]:
        """The class names in label order, as the run's data had them."""
        return list(self.data["classes"])

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.settings["image_size"])

    @property
    def resize_interpolation(self) -> str:
        return self.settings["resize_interpolation"]

    def for_checkpoint(self, checkpoint: str) -> RunCard:
        return dataclasses.replace(self, checkpoint=checkpoint)

    def as_dict(self) -> dict:
        card = dataclasses.asdict(self)
        if card["checkpoint"] is None:  # the card beside the models belongs to both
            del card["checkpoint"]
        return card

    def write(self, path: Path) -> None:
        """The card as JSON beside the models."""
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, sort_keys=True, default=str) + "\n")

    def as_json(self) -> str:
        """The card in one line of JSON: what a model file holds (``embed``, an ONNX model's
        metadata under MODEL_METADATA_KEY)."""
        return json.dumps(self.as_dict(), sort_keys=True, default=str)

    def embed(self, model_path: Path) -> None:
        """The card inside a saved model: an ``.h5`` file's attributes
        (``h5py.File(path).attrs["convnet_run_card"]``), or a ``.keras`` archive's member
        ``run_card.json`` (Keras loads the archive's own members and leaves it alone)."""
        text = self.as_json()
        if Path(model_path).suffix == ".keras":
            with zipfile.ZipFile(model_path, "a") as archive:
                archive.writestr(KERAS_MEMBER, text)
            return
        import h5py

        with h5py.File(model_path, "a") as handle:
            handle.attrs[H5_ATTRIBUTE] = text

    @classmethod
    def read(cls, path: Path) -> RunCard | None:
        """The card of a ``.json`` file or inside an ``.h5`` or ``.keras`` model; None for a model
        without one (not made by this workflow). A card that does not parse is a one-line error
        naming it."""
        path = Path(path)
        if path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as handle:
                text = handle.attrs.get(H5_ATTRIBUTE)
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                text = archive.read(KERAS_MEMBER) if KERAS_MEMBER in archive.namelist() else None
        else:
            text = path.read_text()
        return None if text is None else cls.parse(text, path)

    @classmethod
    def parse(cls, text: str | bytes, path: Path) -> RunCard:
        """The card of JSON ``text`` that ``path`` holds (``read``; an exported model's metadata)."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path}: its run card cannot be read ({exc}); rerun its training") from None
