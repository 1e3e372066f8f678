"""Train one experiment: resumable, repeatable, and saving portable float32 ``.h5`` models.

A checkpoint folder (outside the rule's declared outputs, which Snakemake deletes when a job fails)
holds the last finished epoch's weights and optimizer state, the state of every random layer
(augmentation, dropout), the best weights so far and the history. Its ``state.json`` is written last
and names the files of one consistent epoch, so a job killed at any moment resumes from the last
finished epoch, and the final history has every epoch once. The training order is planned from the
seed (``convnet.pipeline``), so a resumed run feeds the same batches, draws the same augmentations
and ends with the same history and weights as an uninterrupted one on the same machine.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from .backend import configure
from .cache import ImageSet, load_image_set
from .errors import ConfigError, ConvnetError
from .experiments import fingerprint
from .files import atomic_path, atomic_write_table, atomic_write_text, sha256_of_file
from . import runcard
from .model import loss_name, model_from_settings
from .pipeline import fit_arguments
from .records import HISTORY_COLUMNS
from .settings import RunSettings

log = logging.getLogger(__name__)


class TrainingError(ConvnetError):
    """Training cannot go on (e.g. the loss became NaN)."""


def _number(value) -> float:
    return float(keras.ops.convert_to_numpy(value))


class StopOnNaN(keras.callbacks.Callback):
    """Stop with a message naming the epoch, before a NaN epoch is checkpointed."""

    def __init__(self, experiment: str):
        super().__init__()
        self.experiment = experiment

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(_number(loss)):
            raise TrainingError(
                f"experiment {self.experiment!r}: the training loss became NaN in epoch {epoch + 1}; "
                f"lower experiments.{self.experiment}.learning_rate or check the images"
            )


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch, like Keras's verbose=2 but into the rule's log file."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metrics = " - ".join(f"{k}: {_number(v):.4f}" for k, v in logs.items() if k != "learning_rate")
        log.info(
            "epoch %d/%d - %.1f s - %s", epoch + 1, self.epochs, time.perf_counter() - self._started, metrics
        )


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


def start_from(model: keras.Model, init_model: Path, name: str, init_from: str | None) -> None:
    """Load the weights of a saved model (``init_from``'s last epoch) into ``model``."""
    saved = keras.models.load_model(init_model, compile=False).get_weights()
    weights = model.get_weights()
    if [w.shape for w in saved] != [w.shape for w in weights]:
        raise ConfigError(
            f"{init_model} ({init_from}) is not the same model as experiment {name!r}: "
            f"experiments.{name}.init_from must name an experiment with the same base and classifier"
        )
    model.set_weights(saved)
    log.info("starting from %s (experiment %s)", init_model, init_from)


def learning_rate(settings: RunSettings, steps_per_epoch: int | None):
    """``learning_rate`` as ``learning_rate_schedule`` says: constant, or cosine (a linear warm-up
    from 0 over ``warmup_epochs``, then a cosine decay to 0 at the last step). A schedule is a
    function of the optimizer's step count, which the checkpoint keeps: a resumed run goes on
    where it stopped. ``steps_per_epoch`` None: constant (an inference model's optimizer)."""
    if settings.learning_rate_schedule == "constant" or steps_per_epoch is None:
        return settings.learning_rate
    warmup = round(settings.warmup_epochs * steps_per_epoch)
    total = settings.epochs * steps_per_epoch
    if warmup >= total:
        raise ConfigError(
            f"warmup_epochs {settings.warmup_epochs} leaves no epoch for the cosine decay of "
            f"{settings.epochs} epochs: lower warmup_epochs"
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else settings.learning_rate,
        decay_steps=total - warmup,
        alpha=0.0,
        warmup_target=settings.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(settings: RunSettings, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """``optimizer``: RMSprop (the book's, with ``rmsprop_epsilon``), Adam or AdamW (Keras's
    defaults, which are TensorFlow 2.4's: beta 0.9 and 0.999, epsilon 1e-7), or SGD with Nesterov
    momentum 0.9; ``weight_decay`` (decoupled, any optimizer), ``ema`` (a moving average of the
    weights, kept by the optimizer and so in every checkpoint)."""
    common = {
        "learning_rate": learning_rate(settings, steps_per_epoch),
        "weight_decay": settings.weight_decay or None,
        "use_ema": bool(settings.ema),
        "ema_momentum": settings.ema or 0.99,
    }
    if settings.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    if settings.optimizer == "adamw":
        return keras.optimizers.AdamW(**{**common, "weight_decay": settings.weight_decay})
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=0.9, nesterov=True, **common)
    return keras.optimizers.RMSprop(epsilon=settings.rmsprop_epsilon, **common)


@keras.saving.register_keras_serializable(package="convnet")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of class indices with label smoothing, which Keras's sparse loss
    lacks: the one-hot target becomes (1 - s) one-hot + s / k."""

    def __init__(self, num_classes: int, label_smoothing: float, name="smoothed_sparse_crossentropy", **kw):
        super().__init__(name=name, **kw)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        target = keras.ops.one_hot(
            keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,)), self.num_classes
        )
        return keras.losses.categorical_crossentropy(target, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "label_smoothing": self.label_smoothing,
        }


def make_loss(settings: RunSettings):
    """``loss_name``'s loss, with ``label_smoothing`` when it is set."""
    if not settings.label_smoothing:
        return loss_name(settings.num_classes)
    if settings.num_classes == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=settings.label_smoothing)
    return SmoothedSparseCategoricalCrossentropy(settings.num_classes, settings.label_smoothing)


def compile_model(
    model: keras.Model, settings: RunSettings | dict, steps_per_epoch: int | None = None
) -> keras.Model:
    settings = RunSettings.of(settings)
    model.compile(
        optimizer=make_optimizer(settings, steps_per_epoch),
        loss=make_loss(settings),
        metrics=["accuracy"],
    )
    return model


def averaged_weights(model: keras.Model) -> list[np.ndarray]:
    """``model.get_weights()`` with each trainable weight replaced by its moving average (``ema``;
    the others, e.g. batch normalization's statistics, as they are). Keras's own EMA callbacks
    pair them the same way."""
    optimizer = model.optimizer
    if not getattr(optimizer, "use_ema", False):
        return model.get_weights()
    averages = {
        id(variable): keras.ops.convert_to_numpy(average)
        for variable, average in zip(
            optimizer._trainable_variables, optimizer._model_variables_moving_average
        )
    }
    return [
        averages[id(weight)] if id(weight) in averages else keras.ops.convert_to_numpy(weight)
        for weight in model.weights
    ]


class ValidateAveragedWeights(keras.callbacks.Callback):
    """With ``ema``: validation sees the averaged weights (what is saved), training the raw ones."""

    def on_test_begin(self, logs=None):
        self._raw = [keras.ops.convert_to_numpy(weight) for weight in self.model.weights]
        self.model.set_weights(averaged_weights(self.model))

    def on_test_end(self, logs=None):
        self.model.set_weights(self._raw)
        del self._raw


def save_portable(
    weights: list[np.ndarray], settings: RunSettings, path: Path, card: dict | None = None
) -> None:
    """Save the inference model in float32, whatever precision trained it, so it loads and predicts
    anywhere, with its run card inside. Like the book's saved model it has no augmentation layers:
    they do nothing outside training, hold no weights, and Keras 3.15 cannot reload a RandomShear
    layer it saved."""
    keras.config.set_dtype_policy("float32")
    model = compile_model(model_from_settings(settings.replace(augmentation=None)), settings)
    model.set_weights(weights)
    with atomic_path(path) as tmp:
        model.save(tmp)
        if card is not None:
            runcard.embed(card, tmp)


def class_weights(image_set: ImageSet, class_weight: str | None) -> np.ndarray | None:
    """Per class, the weight of its images in the training loss: ``balanced`` gives class c
    n / (k * n_c) (every class then weighs as much in all), None (the default) weighs all alike."""
    if class_weight is None:
        return None
    counts = np.bincount(image_set.labels.astype(np.int64), minlength=len(image_set.classes))
    if (counts == 0).any():
        missing = [image_set.classes[i] for i in np.flatnonzero(counts == 0)]
        raise ConfigError(f"class_weight {class_weight}: the training split has no images of {missing}")
    return (counts.sum() / (len(counts) * counts)).astype(np.float32)


def check_image_size(image_set: ImageSet, settings: RunSettings, name: str, cache: Path) -> None:
    got = tuple(image_set.images.shape[1:3])
    if got != settings.image_size:
        raise ConfigError(
            f"{cache} holds {got[0]}x{got[1]} images but experiments.{name}.image_size is "
            f"{list(settings.image_size)}: rebuild the cache (snakemake --forcerun cache_images)"
        )


def train_experiment(
    name: str,
    settings: RunSettings | dict,
    train_cache: Path,
    validation_cache: Path,
    last_model: Path,
    best_model: Path,
    history_csv: Path,
    checkpoint_dir: Path,
    threads: int | None = None,
    tensorboard_dir: Path | None = None,
    extra_callbacks: list | None = None,
    run_card: Path | None = None,
    data_files: tuple[Path | None, Path | None] = (None, None),
    project: Path | None = None,
    base_weights: Path | None = None,
    init_model: Path | None = None,
) -> list[dict]:
    """Train ``name`` as ``settings`` say, resuming from ``checkpoint_dir``; return the history.

    ``run_card``: where to write how the model was made (also stored in both .h5 files), with the
    archive's and manifest's hashes from ``data_files`` (provenance.json, manifest.csv) and the
    git state of ``project``. ``base_weights``: the pretrained base's weights file;
    ``init_model``: the model a run starts from (``init_from``), when it does not resume."""
    settings = RunSettings.of(settings)
    precision = configure(settings.precision, threads, deterministic=True, seed=settings.seed)
    log.info(
        "experiment %s, seed %s: backend %s, precision %s",
        name,
        settings.seed,
        keras.backend.backend(),
        precision,
    )
    # Cluster jobs: shows which GPU the scheduler handed over.
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))
    train = load_image_set(train_cache)
    validation = load_image_set(validation_cache)
    for image_set, cache in ((train, train_cache), (validation, validation_cache)):
        check_image_size(image_set, settings, name, cache)
    log.info("%d training and %d validation images", len(train), len(validation))
    if train.classes != validation.classes:
        raise ConfigError(
            f"{train_cache} and {validation_cache} hold different classes ({list(train.classes)}, "
            f"{list(validation.classes)}): rebuild the caches (snakemake --forcerun cache_images)"
        )
    # the classes come from the data (data.classes may be auto): one sigmoid unit for two, a softmax for more
    settings = settings.replace(num_classes=len(train.classes))
    weights = class_weights(train, settings.class_weight)
    if weights is not None:
        log.info(
            "class weights (%s): %s",
            settings.class_weight,
            ", ".join(f"{c} {w:.3f}" for c, w in zip(train.classes, weights)),
        )

    steps_per_epoch = settings.steps_per_epoch or math.ceil(len(train) / settings.batch_size)
    model = compile_model(model_from_settings(settings, name, base_weights), settings, steps_per_epoch)
    # a checkpoint resumes only on the same settings, pixels, base weights and starting model
    starts = [sha256_of_file(path)[0] for path in (base_weights, init_model) if path is not None]
    run_id = fingerprint(settings.as_dict(), precision, data_fingerprint(train, validation), *starts)
    checkpoint = ResumableCheckpoint(checkpoint_dir, run_id)
    initial_epoch = checkpoint.restore(model)
    if initial_epoch == 0 and init_model is not None:
        start_from(model, init_model, name, settings.init_from)
    epochs = settings.epochs
    callbacks = [StopOnNaN(name), checkpoint, EpochLog(epochs), *(extra_callbacks or [])]
    if settings.ema:
        callbacks.insert(0, ValidateAveragedWeights())
    if tensorboard_dir is not None and keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    if initial_epoch < epochs:
        arguments = fit_arguments(
            train,
            validation,
            settings.batch_size,
            settings.steps_per_epoch,
            settings.seed,
            epochs,
            initial_epoch,
            class_weights=weights,
        )
        model.fit(**arguments, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)

    history = checkpoint.history
    best = checkpoint.state
    card = runcard.run_card(
        name,
        settings.as_dict(),
        precision,
        threads,
        {
            **runcard.data_identity(*data_files),
            "classes": list(train.classes),
            "class_weights": None if weights is None else [round(float(w), 6) for w in weights],
            "train_images": len(train),
            "validation_images": len(validation),
            "pixels_sha256": data_fingerprint(train, validation),
        },
        {
            "started": best.get("started"),
            "finished": runcard.now(),
            "epochs": len(history),
            "resumed_after_epochs": best.get("resumed_after", []),
            "seconds": round(sum(float(row["seconds"]) for row in history), 1),
            "best_epoch": best.get("best_epoch"),
            "best_val_loss": best.get("best_val_loss"),
        },
        project,
    )
    # with ema the averaged weights (after fit Keras has put them in the model already; a run
    # resumed after its last epoch has not)
    save_portable(averaged_weights(model), settings, last_model, dict(card, checkpoint="last"))
    save_portable(checkpoint.best_weights(), settings, best_model, dict(card, checkpoint="best"))
    write_history(history_csv, history)
    if run_card is not None:
        runcard.write_run_card(card, run_card)
    log.info(
        "best epoch %s (val_loss %.4f); saved %s, %s",
        best["best_epoch"],
        best["best_val_loss"],
        last_model,
        best_model,
    )
    shutil.rmtree(checkpoint_dir)  # done: a forced rerun must start from scratch
    return history
