"""How a model learns: optimizer, learning-rate schedule and loss from a run's settings, and the
compiled model."""

from __future__ import annotations

import keras

from ..core.errors import ConfigError
from .model import loss_name
from ..core.settings import RunSettings


def learning_rate(settings: RunSettings, steps_per_epoch: int | None):
    """``learning_rate`` as ``learning_rate_schedule`` says: constant, or cosine (a linear warm-up
    from 0 over ``warmup_epochs``, then a cosine decay to ``learning_rate_floor`` times the
    learning rate at the last step: Keras's ``alpha``). A schedule is a
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
        alpha=settings.learning_rate_floor,
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
    lacks: the one-hot target becomes (1 - s) one-hot + s / k. Targets that are rows of k class
    probabilities (mixed batches, ``convnet.arrays.mixing``) are taken as they are, then smoothed."""

    def __init__(self, num_classes: int, label_smoothing: float, name="smoothed_sparse_crossentropy", **kw):
        super().__init__(name=name, **kw)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        if _probability_rows(y_true, self.num_classes):
            target = keras.ops.cast(y_true, y_pred.dtype)
        else:
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


def _probability_rows(y_true, num_classes: int) -> bool:
    """Whether ``y_true`` holds a row of ``num_classes`` probabilities per image, not class indices
    (decided on the static shape, so it holds in a traced graph)."""
    return len(y_true.shape) == 2 and y_true.shape[-1] == num_classes


@keras.saving.register_keras_serializable(package="convnet")
class DominantLabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against the label with the larger share of each image: for mixed training batches
    (``convnet.arrays.mixing``), whose targets are fractions or rows of probabilities. On plain 0/1
    labels or class indices it equals Keras's binary or sparse categorical accuracy."""

    def __init__(self, num_classes: int, name="accuracy", dtype=None):
        super().__init__(self._accuracy, name=name, dtype=dtype)
        self.num_classes = int(num_classes)

    def _accuracy(self, y_true, y_pred):
        ops = keras.ops
        if self.num_classes == 2:
            truth = ops.reshape(ops.cast(y_true, "float32"), (-1,)) > 0.5
            predicted = ops.reshape(ops.cast(y_pred, "float32"), (-1,)) > 0.5
        else:
            truth = (
                ops.argmax(y_true, axis=-1)
                if _probability_rows(y_true, self.num_classes)
                else ops.reshape(ops.cast(y_true, "int32"), (-1,))
            )
            predicted = ops.argmax(y_pred, axis=-1)
        return ops.cast(ops.equal(ops.cast(truth, "int32"), ops.cast(predicted, "int32")), "float32")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes}


def make_loss(settings: RunSettings):
    """``loss_name``'s loss, with ``label_smoothing`` when it is set; for more than two classes with
    ``mix``, one that takes the mixed targets' rows of probabilities."""
    if not settings.label_smoothing and not (settings.mix and settings.num_classes > 2):
        return loss_name(settings.num_classes)
    if settings.num_classes == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=settings.label_smoothing)
    return SmoothedSparseCategoricalCrossentropy(settings.num_classes, settings.label_smoothing)


def accuracy_metric(settings: RunSettings):
    """Keras's accuracy; with ``mix``, the same measured against each image's dominant label."""
    return DominantLabelAccuracy(settings.num_classes) if settings.mix else "accuracy"


def compile_model(
    model: keras.Model, settings: RunSettings | dict, steps_per_epoch: int | None = None
) -> keras.Model:
    settings = RunSettings.of(settings)
    model.compile(
        optimizer=make_optimizer(settings, steps_per_epoch),
        loss=make_loss(settings),
        metrics=[accuracy_metric(settings)],
    )
    return model
