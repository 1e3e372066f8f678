"""How a model learns: optimizer, learning-rate schedule and loss from a run's settings, and the
compiled model."""

from __future__ import annotations

import keras

from .errors import ConfigError
from .model import loss_name
from .settings import RunSettings


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
