"""Train one experiment: resumable, repeatable, and saving portable float32 ``.h5`` models. This
module runs a training; the checkpoint (``convnet.checkpoints``), the callbacks
(``convnet.callbacks``), the optimizer and loss (``convnet.compiling``) and the saved models
(``convnet.export``) have modules of their own.

A killed run resumes from its checkpoint (``convnet.checkpoints``, outside the rule's declared
outputs, which Snakemake deletes when a job fails), and the training order is planned from the seed
(``convnet.pipeline``), so a resumed run feeds the same batches, draws the same augmentations and
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

from . import runcard
from .backend import configure, dtype_policy
from .cache import ImageSet, load_image_set
from .callbacks import EpochLog, StopOnNaN, ValidateAveragedWeights, averaged_weights
from .checkpoints import ResumableCheckpoint, data_fingerprint, write_history
from .compiling import compile_model
from .errors import ConfigError
from .experiments import fingerprint
from .export import portable_model, save_portable
from .files import sha256_of_file
from .model import model_from_settings
from .pipeline import fit_arguments
from .settings import RunSettings

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
    return (counts.sum() / (len(counts) * counts)).astype(np.float32)


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
    log.info(
        "experiment %s, seed %s: backend %s, precision %s",
        name,
        settings.seed,
        keras.backend.backend(),
        precision,
    )
    # Cluster jobs: shows which GPU the scheduler handed over.
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))
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
    with dtype_policy(precision):
        model = compile_model(
            model_from_settings(settings, name, paths.base_weights), settings, steps_per_epoch
        )
    # a checkpoint resumes only on the same settings, pixels, base weights and starting model
    starts = [sha256_of_file(path)[0] for path in (paths.base_weights, paths.init_model) if path is not None]
    run_id = fingerprint(settings.as_dict(), precision, data_fingerprint(train, validation), *starts)
    checkpoint = ResumableCheckpoint(paths.checkpoint, run_id)
    initial_epoch = checkpoint.restore(model)
    if initial_epoch == 0 and paths.init_model is not None:
        start_from(model, paths.init_model, name, settings.init_from)
    epochs = settings.epochs
    callbacks = [StopOnNaN(name), checkpoint, EpochLog(epochs), *(extra_callbacks or [])]
    if settings.ema:
        callbacks.insert(0, ValidateAveragedWeights())
    if paths.tensorboard is not None and keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard)))
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
            mix=settings.mix,
            num_classes=settings.num_classes,
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
            **runcard.data_identity(paths.provenance, paths.manifest),
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
        paths.project,
    )
    # with ema the averaged weights (after fit Keras has put them in the model already; a run
    # resumed after its last epoch has not)
    exported = portable_model(settings)
    save_portable(exported, averaged_weights(model), paths.last_model, dict(card, checkpoint="last"))
    save_portable(exported, checkpoint.best_weights(), paths.best_model, dict(card, checkpoint="best"))
    write_history(paths.history, history)
    if paths.run_card is not None:
        runcard.write_run_card(card, paths.run_card)
    log.info(
        "best epoch %s (val_loss %.4f); saved %s, %s",
        best["best_epoch"],
        best["best_val_loss"],
        paths.last_model,
        paths.best_model,
    )
    shutil.rmtree(paths.checkpoint)  # done: a forced rerun must start from scratch
    return history
