"""The callbacks a training run uses beside its checkpoint: stop on NaN, one log line per epoch, and
validation on the moving average of the weights (``ema``)."""

from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np

from ..core.errors import ConvnetError

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
