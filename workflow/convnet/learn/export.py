"""The saved models: float32 inference models that load and predict anywhere, with their run card."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .backend import dtype_policy
from .compiling import compile_model
from ..core.errors import DataError
from ..core.files import atomic_path
from .model import model_from_settings
from ..core.runcard import RunCard
from ..core.settings import RunSettings


def portable_model(settings: RunSettings) -> keras.Model:
    """The inference model of a run, in float32 whatever precision trained it, so that it loads and
    predicts anywhere; built once per run, for both saved checkpoints. Like the book's saved model
    it has no augmentation layers: they do nothing outside training, hold no weights, and Keras
    3.15 cannot reload a RandomShear layer it saved. Batch mixing is training's only: the saved
    model is compiled for plain labels."""
    with dtype_policy("float32"):
        return compile_model(
            model_from_settings(settings.replace(augmentation=None)), settings.replace(mix=None)
        )


def save_portable(model: keras.Model, weights: list[np.ndarray], path: Path, card: RunCard | None) -> None:
    """Save ``model`` (``portable_model``) with ``weights`` to ``path``, its run card inside."""
    model.set_weights(weights)
    with atomic_path(path) as tmp:
        model.save(tmp)
        if card is not None:
            card.embed(tmp)


def load_portable(path: Path) -> keras.Model:
    """A model the workflow saved (``save_portable``), in float32 as it was saved, without its
    compiled loss; a file that cannot be loaded is a one-line error naming it."""
    try:
        with dtype_policy("float32"):
            return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be loaded ({exc}); rerun its training") from None
