"""CutMix and mixup of the training batches (setting ``mix``): what a mixed batch holds, that its
draws depend only on the seed, epoch and step (so a resumed run mixes as an uninterrupted one),
the loss and accuracy on mixed targets, and tiny trainings with two and three classes that resume
identically."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_many_classes import class_set
from test_many_classes import train as train_many
from test_train import SIZE, TINY, Preempt, assert_same_run, read_history, run, write_caches

from convnet.arrays.cache import load_image_set, save_image_set
from convnet.learn.compiling import DominantLabelAccuracy, make_loss
from convnet.arrays.mixing import batch_generator, mix_batch
from convnet.learn.pipeline import fit_arguments
from convnet.core.settings import Mix, RunSettings

CUTMIX, MIXUP = Mix("cutmix"), Mix("mixup")


def numbered_batch(n: int = 8, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value 10 * (i + 1), so each pixel says which image it came from."""
    images = np.repeat(10 * np.arange(1, n + 1, dtype=np.uint8), size * size * 3).reshape(n, size, size, 3)
    return images, np.arange(n) % 4


def test_cutmix_pastes_one_box_of_the_partner_and_mixes_the_labels_by_its_area():
    images, labels = numbered_batch()
    mixed, targets = mix_batch(images, labels, 4, CUTMIX, batch_generator(1, 0, 0))
    assert mixed.dtype == np.uint8 and mixed.shape == images.shape and targets.shape == (8, 4)
    pasted = mixed != images
    box = pasted[0, :, :, 0]
    rows, columns = np.nonzero(box.any(axis=1))[0], np.nonzero(box.any(axis=0))[0]
    assert box.sum() == len(rows) * len(columns)  # one rectangle
    for i in range(8):
        # the same box in every image (where the partner is not the image itself)
        assert not pasted[i].any() or np.array_equal(pasted[i, :, :, 0], box)
        values, counts = np.unique(mixed[i, :, :, 0], return_counts=True)
        expected = np.zeros(4)
        for value, count in zip(values, counts):
            expected[labels[value // 10 - 1]] += count / (16 * 16)
        np.testing.assert_allclose(targets[i], expected, atol=1e-6)


def test_mixup_blends_the_partner_and_mixes_the_labels_in_the_same_proportion():
    images, labels = numbered_batch()
    mixed, targets = mix_batch(images, labels % 2, 2, MIXUP, batch_generator(1, 0, 0))
    assert targets.shape == (8,) and mixed.dtype == np.uint8
    rng = batch_generator(1, 0, 0)
    rng.random()
    lam, partner = rng.beta(1.0, 1.0), rng.permutation(8)
    blend = np.rint(lam * images + (1 - lam) * images[partner].astype(np.float32)).astype(np.uint8)
    np.testing.assert_array_equal(mixed, blend)
    np.testing.assert_allclose(targets, lam * (labels % 2) + (1 - lam) * (labels[partner] % 2), atol=1e-6)
    assert 0 < lam < 1 and not np.array_equal(mixed, images)


def test_the_draws_are_a_function_of_seed_epoch_and_step_only():
    images, labels = numbered_batch()

    def mixed(seed, epoch, step):
        return mix_batch(images, labels, 4, CUTMIX, batch_generator(seed, epoch, step))[0]

    np.testing.assert_array_equal(mixed(3, 5, 7), mixed(3, 5, 7))
    for other in ((4, 5, 7), (3, 6, 7), (3, 5, 8)):
        assert not np.array_equal(mixed(3, 5, 7), mixed(*other)), other


def test_probability_leaves_that_share_of_batches_as_they_are():
    images, labels = numbered_batch()
    half = Mix("cutmix", probability=0.5)
    unchanged = 0
    for step in range(400):
        mixed, targets = mix_batch(images, labels, 4, half, batch_generator(1, 0, step))
        if np.array_equal(mixed, images):
            unchanged += 1
            np.testing.assert_array_equal(targets, np.eye(4)[labels])
    assert 160 < unchanged < 240  # binomial(400, 0.5): mean 200, sd 10


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    train, validation = write_caches(tmp_path_factory.mktemp("caches"))
    return load_image_set(train), load_image_set(validation)


@pytest.mark.jax
def test_a_resumed_plan_mixes_its_batches_as_the_uninterrupted_one(tiny_sets):
    def batches(initial_epoch):
        x = fit_arguments(*tiny_sets, 16, None, 5, 3, initial_epoch, mix=CUTMIX)["x"]
        return list(x.as_numpy_iterator() if hasattr(x, "as_numpy_iterator") else x)

    straight, resumed = batches(0), batches(1)
    steps = len(straight) // 3
    assert len(resumed) == 2 * steps
    for (a_images, a_targets), (b_images, b_targets) in zip(straight[steps:], resumed):
        np.testing.assert_array_equal(a_images, b_images)
        np.testing.assert_array_equal(a_targets, b_targets)
    assert any(not np.isin(targets, (0.0, 1.0)).all() for _, targets in straight)  # labels were mixed


@pytest.mark.jax
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_k_class_loss_takes_mixed_rows_and_class_indices(smoothing):
    settings = RunSettings.of(dict(TINY, num_classes=3, label_smoothing=smoothing, mix={"method": "cutmix"}))
    loss = make_loss(settings)
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], "float32")
    rows = np.array([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]], "float32")
    smoothed = rows * (1 - smoothing) + smoothing / 3
    expected = -np.mean(np.sum(smoothed * np.log(p), axis=1))
    assert float(loss(rows, p)) == pytest.approx(expected, rel=1e-5)
    indices = np.array([0, 2], "float32")
    hard = np.eye(3)[[0, 2]] * (1 - smoothing) + smoothing / 3
    assert float(loss(indices, p)) == pytest.approx(-np.mean(np.sum(hard * np.log(p), axis=1)), rel=1e-5)


@pytest.mark.jax
def test_accuracy_is_against_the_dominant_label_and_keras_own_on_plain_labels():
    def accuracy(num_classes, y_true, y_pred):
        metric = DominantLabelAccuracy(num_classes)
        metric.update_state(np.asarray(y_true, "float32"), np.asarray(y_pred, "float32"))
        return float(metric.result())

    p2 = [[0.9], [0.2], [0.6], [0.4]]
    plain2 = keras.metrics.BinaryAccuracy()
    plain2.update_state(np.array([1, 0, 0, 0], "float32"), np.array(p2, "float32"))
    assert accuracy(2, [1, 0, 0, 0], p2) == float(plain2.result()) == 0.75
    assert accuracy(2, [0.8, 0.3, 0.6, 0.45], p2) == 1.0
    p3 = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]]
    plain3 = keras.metrics.SparseCategoricalAccuracy()
    plain3.update_state(np.array([0, 1, 1], "float32"), np.array(p3, "float32"))
    assert accuracy(3, [0, 1, 1], p3) == pytest.approx(float(plain3.result())) == pytest.approx(2 / 3)
    assert accuracy(3, [[0.7, 0.3, 0], [0, 0.4, 0.6], [0.5, 0.2, 0.3]], p3) == pytest.approx(2 / 3)


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.parametrize("method", ["cutmix", "mixup"])
def test_a_mixed_run_resumes_to_the_uninterrupted_history_and_weights(tmp_path, method):
    caches = write_caches(tmp_path)
    settings = dict(TINY, epochs=3, label_smoothing=0.1, mix={"method": method, "alpha": 0.5})
    straight, _ = run(tmp_path, caches, settings, tag="straight")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, settings, tag="resumed", extra_callbacks=[Preempt(1)])
    resumed, history = run(tmp_path, caches, settings, tag="resumed")
    assert [int(row["epoch"]) for row in history] == [1, 2, 3]
    assert_same_run(straight, resumed)
    plain, _ = run(tmp_path, caches, dict(settings, mix=None), tag="plain")
    assert read_history(plain / "tiny.csv")[0]["loss"] != read_history(straight / "tiny.csv")[0]["loss"]
    model = keras.models.load_model(straight / "tiny.h5")  # saved for plain labels
    assert model.input_shape == (None, SIZE, SIZE, 3)


@pytest.mark.slow
def test_three_classes_train_with_mixed_rows_and_resume_identically(tmp_path):
    classes = ("alpha", "beta", "gamma")
    paths = {}
    for split, seed, counts in (("train", 1, [24, 12, 6]), ("validation", 2, [12, 6, 3])):
        paths[split] = tmp_path / f"{split}.npz"
        save_image_set(paths[split], class_set(counts, seed, classes))
    settings = dict(TINY, epochs=3, steps_per_epoch=4, class_weight="balanced", mix={"method": "cutmix"})
    straight = train_many(tmp_path, paths, settings, "straight")
    with pytest.raises(KeyboardInterrupt):
        train_many(tmp_path, paths, settings, "resumed", extra_callbacks=[Preempt(2)])
    resumed = train_many(tmp_path, paths, settings, "resumed")
    rows = read_history(straight / "m.csv")
    assert [row["loss"] for row in read_history(resumed / "m.csv")] == [row["loss"] for row in rows]
    assert all(np.isfinite(float(row["loss"])) and 0 <= float(row["accuracy"]) <= 1 for row in rows)
    a, b = (keras.models.load_model(folder / "m.h5") for folder in (straight, resumed))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
