"""Where the model looks: Grad-CAM heatmaps of each model family (convnet.learn.explain), their file,
and the two sheets that draw them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convnet.core import records
from convnet.core.settings import ModelSettings
from convnet.learn.explain import grad_cam
from convnet.learn.model import model_from_settings

BOOK = dict(
    image_size=[48, 48],
    conv_filters=[8, 16],
    dense_units=16,
    dropout=0.0,
    augmentation=None,
    base=None,
    expect=None,
)
FAMILIES = {
    "book": (dict(BOOK), "conv2", (21, 21)),
    "residual": (
        dict(BOOK, architecture="residual", stem_filters=8, stem_kernel=3, stem_stride=2, convs_per_block=1),
        "block2_add",
        (6, 6),
    ),
    "pretrained": (
        dict(BOOK, base={"name": "efficientnetv2b0", "trainable_from": None}, dense_units=0),
        "efficientnetv2-b0",
        (2, 2),
    ),
}


def family_model(settings: dict, num_classes: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    return model_from_settings(ModelSettings.of(dict(settings, num_classes=num_classes)))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 48, 48, 3)).astype("float32")


@pytest.mark.parametrize(
    "family",
    # the pretrained base on TensorFlow only: on JAX it would compile EfficientNet for little more
    [
        pytest.param("book", marks=pytest.mark.jax),
        pytest.param("residual", marks=pytest.mark.jax),
        "pretrained",
    ],
)
@pytest.mark.parametrize("num_classes", [2, 3])
def test_a_heatmap_has_the_feature_maps_shape_and_depends_on_the_class_asked_for(family, num_classes, images):
    settings, layer, shape = FAMILIES[family]
    model = family_model(settings, num_classes)
    name, first = grad_cam(model, images, [0, 0, 0])
    _, second = grad_cam(model, images, [1, 1, 1])
    assert name == layer
    assert first.shape == second.shape == (3, *shape)
    both = np.stack([first, second])
    assert both.min() >= 0 and both.max() == pytest.approx(1)  # scaled per image to [0, 1]
    assert not np.allclose(first, second), "the heatmap of another class must differ"


@pytest.mark.jax
def test_a_heatmap_is_computed_per_image_whatever_the_batch(images):
    model = family_model(BOOK, 2)
    _, together = grad_cam(model, images, [1, 0, 1])
    _, alone = grad_cam(model, images[1:2], [0])
    np.testing.assert_allclose(together[1], alone[0], atol=1e-5)


def test_heatmaps_round_trip_through_their_file(tmp_path):
    path = tmp_path / "h.json"
    records.write_heatmaps(path, "conv4", {"a.jpg": ("dogs", [[0.1234, 1.0], [0.0, 0.5]])})
    assert records.read_heatmaps(path) == {"a.jpg": ("dogs", [[0.123, 1.0], [0.0, 0.5]])}
    path.write_text("{}")
    with pytest.raises(Exception, match="h.json: not a readable heatmaps file"):
        records.read_heatmaps(path)


def test_the_errors_sheet_draws_a_heatmap_over_each_photo(tmp_path):
    from convnet.report import plots

    images = np.zeros((4, 20, 20, 3), dtype=np.uint8)
    labels = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    files = ["a", "b", "c", "d"]
    heatmaps = {f: ("dogs", [[0.0, 1.0], [0.5, 0.2]]) for f in files}
    plain = plots.errors_figure(images, labels, probabilities, ("cats", "dogs"), "x")
    drawn = plots.errors_figure(images, labels, probabilities, ("cats", "dogs"), "x", files, heatmaps)
    assert [len(ax.images) for ax in plain.axes[:2]] == [1, 1]
    assert [len(ax.images) for ax in drawn.axes[:2]] == [2, 2]
    assert "where it looked" in drawn._suptitle.get_text()
