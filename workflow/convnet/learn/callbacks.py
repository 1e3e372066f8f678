"""The callbacks a training run uses beside its checkpoint: stop on NaN, one log line per epoch, and
validation on the moving average of the weights (``ema``)."""

from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np

from ..core.errors import ConvnetError
from ..core.logs import SHOW

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
    """A run's progress, in its log and on the terminal (``SHOW``): a first line with what it trains
    (and after which epoch a resumed run goes on), then one line per epoch, like Keras's verbose=2,
    naming the run, with the epoch's time, the metrics and the time left for the run at the mean
    pace of this attempt's epochs."""

    def __init__(self, run: str, epochs: int, images: int, validation_images: int):
        super().__init__()
        self.run, self.epochs, self.images, self.validation_images = run, epochs, images, validation_images
        self._seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self._seconds:  # the attempt's first epoch: initial_epoch is the one it resumes after
            what = f"{self.run}: {self.epochs} epochs of {self.images:,} training images, {self.validation_images:,} for validation"
            log.info("%s", what + (f"; resuming after epoch {epoch}" if epoch else ""), extra={SHOW: True})
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._seconds.append(time.perf_counter() - self._started)
        metrics = " - ".join(f"{k}: {_number(v):.4f}" for k, v in logs.items() if k != "learning_rate")
        left = (self.epochs - epoch - 1) * sum(self._seconds) / len(self._seconds)
        log.info(
            "%s: epoch %d/%d - %.1f s - %s - %s left",
            self.run,
            epoch + 1,
            self.epochs,
            self._seconds[-1],
            metrics,
            duration(left),
            extra={SHOW: True},
        )


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``: a time left, as precise as it needs to be."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


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
