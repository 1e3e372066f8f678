"""Train one experiment: resumable, repeatable, and saving portable float32 ``.h5`` models. This
module runs a training; the checkpoint (``convnet.learn.checkpoints``), the callbacks
(``convnet.learn.callbacks``), the optimizer and loss (``convnet.learn.compiling``) and the saved models
(``convnet.learn.export``) have modules of their own.

A killed run resumes from its checkpoint (``convnet.learn.checkpoints``, outside the rule's declared
outputs, which Snakemake deletes when a job fails), and the training order is planned from the seed
(``convnet.learn.pipeline``), so a resumed run feeds the same batches, draws the same augmentations and
ends with the same history and weights as an uninterrupted one on the same machine.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .backend import configure, dtype_policy, hardware
from ..arrays.cache import ImageSet, load_image_set
from .callbacks import EpochLog, StopOnNaN, ValidateAveragedWeights, averaged_weights
from .checkpoints import ResumableCheckpoint, data_fingerprint, write_history
from .compiling import compile_model
from ..core.errors import ConfigError
from ..core.experiments import fingerprint
from .export import portable_model, save_portable
from ..core.files import sha256_of_file
from .model import model_from_settings
from .pipeline import fit_arguments
from ..core.runcard import RunCard, data_identity, git_state, now, package_versions
from ..core.settings import RunSettings

log = logging.getLogger(__name__)


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


def class_weights(image_set: ImageSet, class_weight: str | None) -> np.ndarray | None:
    """Per class, the weight of its images in the training loss: ``balanced`` gives class c
    n / (k * n_c) (every class then weighs as much in all), None (the default) weighs all alike."""
    if class_weight is None:
        return None
    counts = np.bincount(image_set.labels.astype(np.int64), minlength=len(image_set.classes))
    if (counts == 0).any():
        missing = [image_set.classes[i] for i in np.flatnonzero(counts == 0)]
        raise ConfigError(f"class_weight {class_weight}: the training split has no images of {missing}")
    weights = (counts.sum() / (len(counts) * counts)).astype(np.float32)
    log.info(
        "class weights (%s): %s",
        class_weight,
        ", ".join(f"{c} {w:.3f}" for c, w in zip(image_set.classes, weights)),
    )
    return weights


def check_image_size(image_set: ImageSet, settings: RunSettings, name: str, cache: Path) -> None:
    got = tuple(image_set.images.shape[1:3])
    if got != settings.image_size:
        raise ConfigError(
            f"{cache} holds {got[0]}x{got[1]} images but experiments.{name}.image_size is "
            f"{list(settings.image_size)}: rebuild the cache (snakemake --forcerun cache_images)"
        )


@dataclass(frozen=True, kw_only=True)
class RunPaths:
    """Where one run reads and writes: what the train rule hands its script."""

    train_cache: Path
    validation_cache: Path
    last_model: Path
    best_model: Path
    history: Path
    # outside the rule's outputs, which Snakemake deletes when a job fails
    checkpoint: Path
    # how the model was made (also inside both .h5 files), with the archive's and the manifest's
    # hashes (provenance.json, manifest.csv) and the git commit of ``project``
    run_card: Path | None = None
    provenance: Path | None = None
    manifest: Path | None = None
    project: Path | None = None
    tensorboard: Path | None = None
    base_weights: Path | None = None  # the pretrained base's weights file
    init_model: Path | None = None  # the model a run starts from (init_from), when it does not resume


def train_experiment(
    name: str,
    settings: RunSettings | dict,
    paths: RunPaths,
    threads: int | None = None,
    extra_callbacks: list | None = None,
) -> list[dict]:
    """Train ``name`` as ``settings`` say, resuming from ``paths.checkpoint``; return the history."""
    settings = RunSettings.of(settings)
    precision = configure(settings.precision, threads, deterministic=True, seed=settings.seed)
    log_start(name, settings, precision)
    train, validation = load_training_data(name, settings, paths)
    # the classes come from the data (data.classes may be auto): one sigmoid unit for two, a softmax for more
    settings = settings.replace(num_classes=len(train.classes))
    weights = class_weights(train, settings.class_weight)
    model = compiled_model(name, settings, precision, paths, len(train))
    run_id = run_fingerprint(settings, precision, train, validation, paths)
    checkpoint = ResumableCheckpoint(paths.checkpoint, run_id)
    initial_epoch = checkpoint.restore(model)
    if initial_epoch == 0 and paths.init_model is not None:
        start_from(model, paths.init_model, name, settings.init_from)
    if initial_epoch < settings.epochs:
        images = (len(train), len(validation))
        callbacks = training_callbacks(name, settings, checkpoint, paths, extra_callbacks, images)
        fit(model, settings, train, validation, weights, initial_epoch, callbacks)
    card = run_card_of(name, settings, precision, threads, train, validation, weights, checkpoint, paths)
    save_run(model, settings, checkpoint, card, paths)
    return checkpoint.history


def log_start(name: str, settings: RunSettings, precision: str) -> None:
    backend = keras.backend.backend()
    log.info("experiment %s, seed %s: backend %s, precision %s", name, settings.seed, backend, precision)
    # Cluster jobs: shows which GPU the scheduler handed over.
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))


def compiled_model(
    name: str, settings: RunSettings, precision: str, paths: RunPaths, train_images: int
) -> keras.Model:
    """The run's model at its precision, compiled with its optimizer, schedule and loss."""
    steps_per_epoch = settings.steps_per_epoch or math.ceil(train_images / settings.batch_size)
    with dtype_policy(precision):
        model = model_from_settings(settings, name, paths.base_weights)
        return compile_model(model, settings, steps_per_epoch)


def fit(
    model: keras.Model,
    settings: RunSettings,
    train: ImageSet,
    validation: ImageSet,
    weights: np.ndarray | None,
    initial_epoch: int,
    callbacks: list,
) -> None:
    """The epochs after ``initial_epoch``, in the order planned from the seed."""
    arguments = fit_arguments(
        train,
        validation,
        settings.batch_size,
        settings.steps_per_epoch,
        settings.seed,
        settings.epochs,
        initial_epoch,
        class_weights=weights,
        mix=settings.mix,
        num_classes=settings.num_classes,
    )
    model.fit(
        **arguments, epochs=settings.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0
    )


def load_training_data(name: str, settings: RunSettings, paths: RunPaths) -> tuple[ImageSet, ImageSet]:
    """The training and validation caches, checked against the settings and each other."""
    train = load_image_set(paths.train_cache)
    validation = load_image_set(paths.validation_cache)
    for image_set, cache in ((train, paths.train_cache), (validation, paths.validation_cache)):
        check_image_size(image_set, settings, name, cache)
    log.info("%d training and %d validation images", len(train), len(validation))
    if train.classes != validation.classes:
        raise ConfigError(
            f"{paths.train_cache} and {paths.validation_cache} hold different classes ({list(train.classes)}, "
            f"{list(validation.classes)}): rebuild the caches (snakemake --forcerun cache_images)"
        )
    return train, validation


def run_fingerprint(
    settings: RunSettings, precision: str, train: ImageSet, validation: ImageSet, paths: RunPaths
) -> str:
    """What a checkpoint must match to be resumed: the settings, the pixels, the base weights and
    the starting model."""
    starts = [sha256_of_file(path)[0] for path in (paths.base_weights, paths.init_model) if path is not None]
    return fingerprint(settings.as_dict(), precision, data_fingerprint(train, validation), *starts)


def training_callbacks(
    name: str,
    settings: RunSettings,
    checkpoint: ResumableCheckpoint,
    paths: RunPaths,
    extra: list | None,
    images: tuple[int, int],
) -> list:
    """``images``: how many training and validation images the run has."""
    train_images, validation_images = images
    per_epoch = settings.steps_per_epoch * settings.batch_size if settings.steps_per_epoch else train_images
    progress = EpochLog(f"{name} seed {settings.seed}", settings.epochs, per_epoch, validation_images)
    callbacks = [StopOnNaN(name), checkpoint, progress, *(extra or [])]
    if settings.ema:
        callbacks.insert(0, ValidateAveragedWeights())
    if paths.tensorboard is not None and keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard)))
    return callbacks


def run_card_of(
    name: str,
    settings: RunSettings,
    precision: str,
    threads: int | None,
    train: ImageSet,
    validation: ImageSet,
    weights: np.ndarray | None,
    checkpoint: ResumableCheckpoint,
    paths: RunPaths,
) -> RunCard:
    """The card of the run that has just trained, from its data and its checkpoint's record."""
    history, state = checkpoint.history, checkpoint.state
    data = {
        **data_identity(paths.provenance, paths.manifest),
        "classes": list(train.classes),
        "class_weights": None if weights is None else [round(float(w), 6) for w in weights],
        "train_images": len(train),
        "validation_images": len(validation),
        "pixels_sha256": data_fingerprint(train, validation),
    }
    training = {
        "started": state.get("started"),
        "finished": now(),
        "epochs": len(history),
        "resumed_after_epochs": state.get("resumed_after", []),
        "seconds": round(sum(float(row["seconds"]) for row in history), 1),
        "best_epoch": state.get("best_epoch"),
        "best_val_loss": state.get("best_val_loss"),
    }
    return RunCard(
        experiment=name,
        seed=settings.seed,
        settings=settings.as_dict(),
        precision=precision,
        data=data,
        training=training,
        hardware=hardware(threads),
        software=package_versions(),
        project=git_state(paths.project) if paths.project else None,
    )


def save_run(
    model: keras.Model, settings: RunSettings, checkpoint: ResumableCheckpoint, card: RunCard, paths: RunPaths
) -> None:
    """The two float32 models (each as .h5 and .keras) with their card inside, the history and the
    card beside them; then the checkpoint goes (a forced rerun must start from scratch)."""
    # with ema the averaged weights (after fit Keras has put them in the model already; a run
    # resumed after its last epoch has not)
    exported = portable_model(settings)
    save_portable(exported, averaged_weights(model), paths.last_model, card.for_checkpoint("last"))
    save_portable(exported, checkpoint.best_weights(), paths.best_model, card.for_checkpoint("best"))
    write_history(paths.history, checkpoint.history)
    if paths.run_card is not None:
        card.write(paths.run_card)
    best = checkpoint.state
    log.info(
        "best epoch %s (val_loss %.4f); saved %s, %s",
        best["best_epoch"],
        best["best_val_loss"],
        paths.last_model,
        paths.best_model,
    )
    shutil.rmtree(paths.checkpoint)
