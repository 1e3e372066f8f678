"""A training run's checkpoint: each finished epoch's weights, optimizer state, the state of every
random layer (augmentation, dropout), the best weights so far and the history. Its ``state.json``
is written last and names the files of one consistent epoch, so a job killed at any moment resumes
from the last finished epoch (or the one before, if that one was damaged), and the final history
has every epoch once."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from ..core import runcard
from ..arrays.cache import ImageSet
from .callbacks import _number, averaged_weights
from ..core.files import atomic_path, atomic_write_table, atomic_write_text
from ..core.records import HISTORY_COLUMNS

log = logging.getLogger(__name__)


def random_state_variables(model: keras.Model) -> list:
    """The variables that hold random state (each SeedGenerator's), not weights: Keras's
    ``model.variables`` are its weights plus these."""
    weights = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


def data_fingerprint(*image_sets: ImageSet) -> str:
    """A hash of the pixels and labels themselves: another split, order, resize or photo
    changes it, so a checkpoint is resumed only on the very data it was trained on."""
    digest = hashlib.sha256()
    for image_set in image_sets:
        images = image_set.images
        digest.update(str(images.shape).encode())
        for start in range(0, len(images), 1024):  # a piece at a time: a cache's images stay on disk
            digest.update(np.ascontiguousarray(images[start : start + 1024]).data)
        digest.update(str(image_set.labels.shape).encode())
        digest.update(np.ascontiguousarray(image_set.labels).data)
    return digest.hexdigest()[:16]


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves each finished epoch; ``restore`` puts a model back where the last run stopped.

    The folder keeps the last two finished epochs (``state.json`` names the last one's files,
    ``previous.json`` the one before), so that a checkpoint damaged after it was committed (a node
    that died while a network file system was still writing it) falls back one epoch, and
    training replays that epoch to the same weights and history."""

    def __init__(self, folder: Path, run_fingerprint: str):
        super().__init__()
        self.folder = Path(folder)
        self.fingerprint = run_fingerprint
        self.history: list[dict] = []
        self.state: dict = {
            "fingerprint": run_fingerprint,
            "epoch": 0,
            "best_val_loss": None,
            "best": None,
            "started": runcard.now(),
            "resumed_after": [],
        }

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    @property
    def previous_path(self) -> Path:
        return self.folder / "previous.json"

    def restore(self, model: keras.Model) -> int:
        """Load the last intact finished epoch into ``model`` (weights, optimizer and random
        state); return its number (0: start over)."""
        if not self.state_path.exists():
            shutil.rmtree(self.folder, ignore_errors=True)
            return 0
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        damaged = []
        # what a failed load may have half-overwritten: put back before the next attempt
        variables = [*model.variables, *model.optimizer.variables]
        pristine = [keras.ops.convert_to_numpy(variable) for variable in variables]
        for state_path in (self.state_path, self.previous_path):
            try:
                state = json.loads(state_path.read_text())
            except (OSError, ValueError) as exc:
                damaged.append(f"{state_path.name} ({exc})")
                continue
            if state.get("fingerprint") != self.fingerprint:
                log.info("checkpoint in %s is from other settings or data; starting over", self.folder)
                shutil.rmtree(self.folder)
                return 0
            try:
                history = self._load(model, state)
            except Exception as exc:  # noqa: BLE001 - h5py, Keras and NumPy each raise their own kind
                damaged.append(f"epoch {state['epoch']} ({type(exc).__name__}: {str(exc)[:120]})")
                for variable, value in zip(variables, pristine):
                    variable.assign(value)
                continue
            if damaged:
                log.warning(
                    "checkpoint in %s is damaged: %s; resuming after epoch %d instead",
                    self.folder,
                    "; ".join(damaged),
                    state["epoch"],
                )
                atomic_write_text(self.state_path, json.dumps(state, indent=2))  # the damaged one is gone
            self.history = history
            self.state = dict(state, resumed_after=[*state.get("resumed_after", []), state["epoch"]])
            log.info("resuming after epoch %d from %s", state["epoch"], self.folder)
            return state["epoch"]
        log.warning("checkpoint in %s is damaged: %s; starting over", self.folder, "; ".join(damaged))
        shutil.rmtree(self.folder)
        return 0

    def _load(self, model: keras.Model, state: dict) -> list[dict]:
        """Load one committed epoch into ``model``; its history. Raises if any of its files is
        missing or damaged."""
        model.load_weights(self.folder / state["last"])
        with np.load(self.folder / state["random"]) as saved:
            values = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        variables = random_state_variables(model)
        if len(values) != len(variables):
            raise ValueError(
                f"{state['random']} holds {len(values)} random states, the model {len(variables)}"
            )
        for variable, value in zip(variables, values):
            variable.assign(value)
        if state.get("best"):
            with np.load(self.folder / state["best"]) as best:
                for name in best.files:
                    best[name]  # read every array: a cut-short file fails here, not at the end
        with open(self.folder / "history.csv", newline="") as handle:
            rows = [dict(row) for row in csv.DictReader(handle)]
        history = [row for row in rows if int(row["epoch"]) <= state["epoch"]]
        if [int(row["epoch"]) for row in history] != list(range(1, state["epoch"] + 1)):
            raise ValueError(f"history.csv does not hold epochs 1 to {state['epoch']}")
        return history

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: _number(v) for k, v in (logs or {}).items()}
        seconds = time.perf_counter() - self._started
        self.folder.mkdir(parents=True, exist_ok=True)
        row = {
            "epoch": epoch + 1,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "val_loss": logs.get("val_loss"),
            "val_accuracy": logs.get("val_accuracy"),
            "learning_rate": _number(self.model.optimizer.learning_rate),
            "seconds": round(seconds, 3),
        }
        self.history.append(row)
        state = dict(
            self.state,
            epoch=epoch + 1,
            last=f"epoch-{epoch + 1}.weights.h5",
            random=f"random-{epoch + 1}.npz",
        )
        with atomic_path(self.folder / state["last"]) as tmp:
            self.model.save_weights(tmp)
        with atomic_path(self.folder / state["random"]) as tmp:
            np.savez(tmp, *[keras.ops.convert_to_numpy(v) for v in random_state_variables(self.model)])
        val_loss = row["val_loss"]
        if val_loss is not None and (state["best_val_loss"] is None or val_loss < state["best_val_loss"]):
            state.update(best_val_loss=val_loss, best_epoch=epoch + 1, best=f"best-{epoch + 1}.npz")
            with atomic_path(self.folder / state["best"]) as tmp:
                np.savez(tmp, *averaged_weights(self.model))  # what was validated
        write_history(self.folder / "history.csv", self.history)
        if self.state_path.exists():
            # the epoch before stays restorable: should this one's files turn out damaged
            atomic_write_text(self.previous_path, self.state_path.read_text())
        atomic_write_text(self.state_path, json.dumps(state, indent=2))  # the commit point
        kept = [state]
        if self.previous_path.exists():
            kept.append(json.loads(self.previous_path.read_text()))
        keep = {"state.json", "previous.json", "history.csv"}
        keep |= {entry[key] for entry in kept for key in ("last", "random", "best") if entry.get(key)}
        for stale in self.folder.iterdir():
            if stale.name not in keep:
                stale.unlink()
        self.state = state

    def best_weights(self) -> list[np.ndarray]:
        with np.load(self.folder / self.state["best"]) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


def write_history(path: Path, rows: list[dict]) -> None:
    atomic_write_table(path, HISTORY_COLUMNS, rows)
