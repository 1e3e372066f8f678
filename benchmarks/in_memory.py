"""The training input as it was before the caches were read from disk (up to issue 24): every
split decoded whole into memory and handed to TensorFlow as one constant, each batch gathered from
it inside the graph. Kept here only so that the benchmarks can measure it beside today's path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convnet.learn import pipeline
from convnet.arrays.cache import ImageSet, load_image_set


def load_in_memory(path: Path) -> ImageSet:
    """A cache with its images read into memory, as load_image_set did."""
    image_set = load_image_set(path)
    return ImageSet(np.asarray(image_set.images), image_set.labels, image_set.files, image_set.classes)


def _tf_batches(image_set: ImageSet, batches: list[np.ndarray], weights: np.ndarray | None = None):
    import tensorflow as tf

    indices = tf.RaggedTensor.from_row_lengths(
        np.concatenate(batches).astype(np.int32), [len(batch) for batch in batches]
    )
    images, labels = tf.constant(image_set.images), tf.constant(image_set.labels)
    if weights is None:

        def gather(index):
            return tf.gather(images, index), tf.gather(labels, index)

    else:
        weights = tf.constant(weights)

        def gather(index):
            return tf.gather(images, index), tf.gather(labels, index), tf.gather(weights, index)

    dataset = tf.data.Dataset.from_tensor_slices(indices).map(gather)
    return pipeline._without_autotune(dataset.prefetch(2))


def _tf_validation(image_set: ImageSet, batch_size: int):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((image_set.images, image_set.labels)).batch(batch_size)
    return pipeline._without_autotune(dataset.prefetch(2))


def use_in_memory_pipeline() -> None:
    """Make convnet.learn.pipeline and convnet.learn.train feed the model as before (TensorFlow backend)."""
    from convnet.learn import train

    pipeline._tf_batches, pipeline._tf_validation = _tf_batches, _tf_validation
    train.load_image_set = load_in_memory
