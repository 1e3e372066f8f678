"""Feed in-memory images to ``model.fit``: tf.data on the TensorFlow backend, numpy elsewhere.

TensorFlow 2.21 can block 2-20 s at every epoch boundary while the old tf.data iterator waits for
the autotune thread; autotune is switched off here, which removed the stall in our measurements.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from .cache import ImageSet


def _tf_dataset(image_set: ImageSet, batch_size: int, shuffle_seed: int | None, repeat: bool):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((image_set.images, image_set.labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(image_set), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    return dataset.with_options(options)


def _batches_forever(image_set: ImageSet, batch_size: int, seed: int):
    """Endless shuffled batches, as the book's generator; each pass is a new permutation."""
    rng = np.random.default_rng(seed)
    pending = np.empty(0, dtype=np.int64)
    while True:
        while len(pending) < batch_size:
            pending = np.concatenate([pending, rng.permutation(len(image_set))])
        index, pending = pending[:batch_size], pending[batch_size:]
        yield image_set.images[index], image_set.labels[index]


def fit_arguments(
    train: ImageSet, validation: ImageSet, batch_size: int, steps_per_epoch: int | None, seed: int
) -> dict:
    """Keyword arguments for ``model.fit``: shuffled training batches (repeated when
    ``steps_per_epoch`` asks for more than one pass) and the whole validation set once per epoch."""
    repeat = steps_per_epoch is not None
    steps = steps_per_epoch or math.ceil(len(train) / batch_size)
    if keras.backend.backend() == "tensorflow":
        return {
            "x": _tf_dataset(train, batch_size, seed, repeat),
            "shuffle": False,  # the dataset shuffles itself, reproducibly
            "validation_data": _tf_dataset(validation, batch_size, None, False),
            "steps_per_epoch": steps if repeat else None,
        }
    if repeat:
        return {
            "x": _batches_forever(train, batch_size, seed),
            "validation_data": (validation.images, validation.labels),
            "validation_batch_size": batch_size,
            "steps_per_epoch": steps,
        }
    return {
        "x": train.images,
        "y": train.labels,
        "batch_size": batch_size,
        "shuffle": True,
        "validation_data": (validation.images, validation.labels),
        "validation_batch_size": batch_size,
    }
