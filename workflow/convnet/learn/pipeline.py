"""Feed cached images to ``model.fit`` in an order that is a pure function of the run's seed.

The training order is planned up front (:func:`batch_plan`): the images' indices for every batch of
every epoch, drawn from the seed alone. A run resumed after epoch ``k`` feeds the plan from epoch
``k + 1``, the same batches an uninterrupted run feeds there, so shuffling never depends on how
often a job was interrupted. Each pass over the training images is a new permutation; with
``steps_per_epoch`` the passes run on across epoch boundaries, as the book's endless generator did.

Each batch's images are read when the batch is due (from the cache file: ``cache.CachedImages``),
so memory holds a few batches, not the split. On the TensorFlow backend the plan feeds a tf.data
pipeline that prefetches two batches; elsewhere a Python generator does the same. TensorFlow 2.21
can block 2-20 s at epoch boundaries while an old tf.data iterator waits for the autotune thread;
autotune is switched off, which removed the stall in our measurements.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from ..arrays.cache import ImageSet
from ..arrays.mixing import batch_generator, mix_batch
from ..core.settings import Mix


def batch_plan(
    count: int, batch_size: int, steps_per_epoch: int | None, seed: int, epochs: int
) -> list[list[np.ndarray]]:
    """For each epoch, the indices (into the ``count`` training images) of each of its batches.

    Without ``steps_per_epoch`` an epoch is one pass (a permutation; the last batch may be short);
    with it, an epoch is ``steps_per_epoch`` full batches from an endless run of permutations."""
    rng = np.random.default_rng(seed)
    if steps_per_epoch is None:
        return [
            np.array_split(order, range(batch_size, count, batch_size))
            for order in (rng.permutation(count) for _ in range(epochs))
        ]
    per_epoch = steps_per_epoch * batch_size
    passes = math.ceil(epochs * per_epoch / count)
    stream = np.concatenate([rng.permutation(count) for _ in range(passes)])
    return [
        list(stream[epoch * per_epoch : (epoch + 1) * per_epoch].reshape(steps_per_epoch, batch_size))
        for epoch in range(epochs)
    ]


def sample_weights(image_set: ImageSet, class_weights: np.ndarray | None) -> np.ndarray | None:
    """Each training image's weight in the loss: its class's weight (None: no weights)."""
    if class_weights is None:
        return None
    return np.asarray(class_weights, dtype=np.float32)[image_set.labels.astype(np.int64)]


class _Mixer:
    """Reads batch ``number`` of the planned batches and mixes it (``convnet.arrays.mixing``) with the
    draws of its epoch and step, whatever epoch the run resumed from."""

    def __init__(
        self, image_set: ImageSet, mix: Mix, num_classes: int, seed: int, places: list[tuple[int, int]]
    ):
        self.image_set, self.mix, self.num_classes, self.seed = image_set, mix, num_classes, seed
        self.places = places  # (epoch, step) of each planned batch
        self.target_shape = (None,) if num_classes == 2 else (None, num_classes)

    def __call__(self, number, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = batch_generator(self.seed, *self.places[int(number)])
        return mix_batch(
            self.image_set.images[index], self.image_set.labels[index], self.num_classes, self.mix, rng
        )


def _tf_batches(
    image_set: ImageSet,
    batches: list[np.ndarray],
    weights: np.ndarray | None = None,
    mixer: _Mixer | None = None,
):
    """The planned batches as a tf.data pipeline that reads each batch's images when it is due
    (from the cache file, or from memory), so the split is never held whole. Labels and weights
    are small and gathered in the graph; the images come through one ``numpy_function`` call per
    batch (a third of ``from_generator``'s cost per batch, measured), with their mixed targets
    when a ``mixer`` is given."""
    import tensorflow as tf

    height, width = image_set.images.shape[1:3]
    indices = tf.RaggedTensor.from_row_lengths(
        np.concatenate(batches).astype(np.int64), [len(batch) for batch in batches]
    )
    labels = tf.constant(image_set.labels)
    weights = None if weights is None else tf.constant(weights)
    if mixer is not None:

        @tf.autograph.experimental.do_not_convert
        def gather_mixed(number, index):
            images, targets = tf.numpy_function(mixer, [number, index], (tf.uint8, tf.float32))
            images.set_shape((None, height, width, 3))
            targets.set_shape(mixer.target_shape)
            if weights is None:
                return images, targets
            return images, targets, tf.gather(weights, index)

        dataset = tf.data.Dataset.from_tensor_slices(indices).enumerate().map(gather_mixed)
        return _without_autotune(dataset.prefetch(2))

    def read(index: np.ndarray) -> np.ndarray:
        return image_set.images[index]

    @tf.autograph.experimental.do_not_convert
    def gather(index):
        images = tf.numpy_function(read, [index], tf.uint8)
        images.set_shape((None, height, width, 3))
        if weights is None:
            return images, tf.gather(labels, index)
        return images, tf.gather(labels, index), tf.gather(weights, index)

    dataset = tf.data.Dataset.from_tensor_slices(indices).map(gather)
    return _without_autotune(dataset.prefetch(2))


def _tf_validation(image_set: ImageSet, batch_size: int):
    return _tf_batches(image_set, _in_order(len(image_set), batch_size))


def _in_order(count: int, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of ``batch_size`` over ``count`` images (the last may be short)."""
    return [np.arange(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


class _Validation(keras.utils.PyDataset):
    """The validation images in order, one batch at a time, for every epoch (backends other
    than TensorFlow; a generator would be spent after the first epoch)."""

    def __init__(self, image_set: ImageSet, batch_size: int):
        super().__init__()
        self.image_set, self.batches = image_set, _in_order(len(image_set), batch_size)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[index]
        return self.image_set.images[rows], self.image_set.labels[rows]


def _without_autotune(dataset):
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    return dataset.with_options(options)


def _numpy_batches(
    image_set: ImageSet,
    batches: list[np.ndarray],
    weights: np.ndarray | None = None,
    mixer: _Mixer | None = None,
):
    for number, index in enumerate(batches):
        if mixer is None:
            images, labels = image_set.images[index], image_set.labels[index]
        else:
            images, labels = mixer(number, index)
        yield (images, labels) if weights is None else (images, labels, weights[index])


def fit_arguments(
    train: ImageSet,
    validation: ImageSet,
    batch_size: int,
    steps_per_epoch: int | None,
    seed: int,
    epochs: int,
    initial_epoch: int = 0,
    class_weights: np.ndarray | None = None,
    mix: Mix | None = None,
    num_classes: int = 2,
) -> dict:
    """Keyword arguments for ``model.fit(..., initial_epoch=initial_epoch)``: the planned training
    batches of epochs ``initial_epoch + 1`` to ``epochs`` (with each image's class weight, when
    ``class_weights`` are given; mixed as ``mix`` says, when it is given, each image keeping its
    own class weight) and the whole validation set once per epoch."""
    plan = batch_plan(len(train), batch_size, steps_per_epoch, seed, epochs)
    batches = [batch for epoch in plan[initial_epoch:] for batch in epoch]
    steps = len(plan[0])
    weights = sample_weights(train, class_weights)
    mixer = None
    if mix is not None:
        places = [(epoch, step) for epoch in range(initial_epoch, epochs) for step in range(len(plan[epoch]))]
        mixer = _Mixer(train, mix, num_classes, seed, places)
    if keras.backend.backend() == "tensorflow":
        return {
            "x": _tf_batches(train, batches, weights, mixer),
            "shuffle": False,  # the plan is the order
            "steps_per_epoch": steps,
            "validation_data": _tf_validation(validation, batch_size),
        }
    return {
        "x": _numpy_batches(train, batches, weights, mixer),
        "shuffle": False,
        "steps_per_epoch": steps,
        "validation_data": _Validation(validation, batch_size),
    }
