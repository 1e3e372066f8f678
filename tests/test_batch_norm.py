"""Batch-normalization statistics recomputed for a model's weights (benchmarks/batch_norm.py) and the
diagnostic script that compares validation accuracy before and after (benchmarks/)."""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
from conftest import ROOT
from keras import layers

from batch_norm import batch_norm_layers, recompute_statistics
from convnet.arrays.cache import ImageSet, save_image_set

spec = importlib.util.spec_from_file_location(
    "batch_norm_statistics", ROOT / "benchmarks" / "batch_norm_statistics.py"
)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


def small_model(num_classes=1, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.BatchNormalization(name="norm")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    activation = "sigmoid" if num_classes == 1 else "softmax"
    return keras.Model(inputs, layers.Dense(num_classes, activation=activation)(x))


def images(count, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)


def test_the_moving_statistics_become_the_mean_of_the_batch_moments_and_nothing_else_changes():
    model = small_model()
    norm = model.get_layer("norm")
    norm.moving_mean.assign(np.full(4, 100.0))
    norm.moving_variance.assign(np.full(4, 100.0))
    weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    data = images(23)

    assert recompute_statistics(model, data, batch_size=5, seed=3) == 4  # the last 3 images left out

    conv = keras.Model(model.input, model.get_layer("conv").output)
    order = np.random.default_rng(3).permutation(23)
    batches = [keras.ops.convert_to_numpy(conv(data[np.sort(order[i * 5 : (i + 1) * 5])])) for i in range(4)]
    np.testing.assert_allclose(
        norm.moving_mean, np.mean([b.mean((0, 1, 2)) for b in batches], 0), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        norm.moving_variance, np.mean([b.var((0, 1, 2)) for b in batches], 0), rtol=1e-4
    )
    assert norm.momentum == 0.99
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after)


def test_nested_layers_count_and_frozen_ones_keep_their_statistics():
    inner = small_model()
    frozen = layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, inner(frozen(inputs)))
    outer(images(2))  # build
    frozen.moving_mean.assign(np.full(3, 7.0))

    assert batch_norm_layers(outer) == [inner.get_layer("norm")]
    recompute_statistics(outer, images(10), batch_size=5)
    np.testing.assert_array_equal(frozen.moving_mean, np.full(3, 7.0))
    assert recompute_statistics(keras.Sequential([keras.Input((3,)), layers.Dense(1)]), np.zeros((4, 3))) == 0


def test_the_script_reads_train_and_validation_only_and_leaves_the_model_file_alone(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    for split, count in (("train", 30), ("validation", 12)):
        labels = np.arange(count, dtype=np.float32) % 3
        files = np.array([f"{split}/{i}.jpg" for i in range(count)])
        save_image_set(
            cache / f"{split}.npz", ImageSet(images(count, seed=count), labels, files, ("a", "b", "c"))
        )
    model = small_model(num_classes=3)
    model.get_layer("norm").moving_mean.assign(np.full(4, 50.0))  # statistics far from the weights'
    path = tmp_path / "model.h5"
    model.save(path)
    saved = path.read_bytes()

    (row,) = script.main([str(path), "--cache", str(cache), "--batch-size", "10"])

    assert path.read_bytes() == saved
    assert row["batches"] == 3 and 0 <= row["saved"] <= 1 and 0 <= row["recomputed"] <= 1
    # with the statistics 50 away from the activations every image gets the same class
    assert row["saved"] == 4 / 12
    assert "30 training images, 12 validation images, 3 classes" in capsys.readouterr().out
