"""Batch-normalization statistics recomputed for a model's weights as they are.

A batch-normalization layer normalizes with its moving mean and variance at inference, an average
over the last ~100 training steps (momentum 0.99) of weights that kept changing. When a step moves
the weights far (RMSprop at 1e-3, the mini-Xception's setting), those averages describe weights the
model no longer has, and validation accuracy swings with them while the weights are fine
(docs/results.md, "TrashNet"). Recomputing them over one pass of the training images, as stochastic
weight averaging does (PyTorch's ``torch.optim.swa_utils.update_bn``), measures that.
"""

from __future__ import annotations

import keras
import numpy as np


def batch_norm_layers(model: keras.Layer) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer that learns statistics, in nested models too; a frozen one
    (``trainable`` False, as in a pretrained base) normalizes with its stored statistics even in
    training mode, so it is left out."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable:
                found.append(layer)
        else:
            found.extend(batch_norm_layers(layer))
    return found


def recompute_statistics(model: keras.Model, images, batch_size: int = 50, seed: int = 0) -> int:
    """Replace each batch-normalization layer's moving mean and variance by the mean, over the
    training ``images`` in ``seed``'s order and ``batch_size`` at a time (a last, smaller batch is
    left out), of the batch moments it computes in training mode (dropout on; a saved model has no
    augmentation layers, so it sees the images as stored). The weights are not changed. Returns the
    number of batches."""
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    order = np.random.default_rng(seed).permutation(len(images))
    batches = len(order) // batch_size
    try:
        for index in range(batches):
            # momentum k / (k + 1) at the k-th batch makes the moving values the running mean of
            # the batch moments, each batch weighed alike
            for layer in layers:
                layer.momentum = index / (index + 1)
            batch = np.sort(order[index * batch_size : (index + 1) * batch_size])
            model(np.asarray(images[batch]), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return batches
