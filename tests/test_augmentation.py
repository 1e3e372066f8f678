"""The affine augmentation layer against Keras 2.0.8's ImageDataGenerator, written out here from its
formulas (random_transform, transform_matrix_offset_center, apply_transform): same parameters give
the same matrix, and the same image and matrix give the same pixels."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import yaml
from conftest import ROOT
from scipy import ndimage

from convnet.learn.augmentation import BookAugmentation, augmentation_layers, keras_layers, layer_seed
from convnet.core.errors import ConfigError
from convnet.core.experiments import experiment_settings
from convnet.core.settings import Augmentation

# every test here runs again with KERAS_BACKEND=jax (tests/test_jax.py): layers, models, backend
pytestmark = pytest.mark.jax

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
BOOK = {  # the book's ImageDataGenerator arguments, shear in 2.0.8's radians
    "rotation_degrees": 40,
    "width_shift": 0.2,
    "height_shift": 0.2,
    "shear_radians": 0.2,
    "zoom": 0.2,
    "horizontal_flip": True,
}


def keras_208_matrix(theta, tx, ty, shear, zx, zy, height, width):
    """Keras 2.0.8: rotation @ shift @ shear @ zoom in (row, column) coordinates, tx and ty in
    pixels, then offset to the centre o = size / 2 + 0.5."""
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    matrix = rotation @ shift @ shear_matrix @ zoom
    o_x, o_y = height / 2 + 0.5, width / 2 + 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def keras_208_apply(image, matrix, flip):
    """apply_transform: scipy's affine_transform per channel, order 0 (nearest), fill nearest;
    then the horizontal flip."""
    channels = [
        ndimage.affine_transform(image[..., c], matrix[:2, :2], matrix[:2, 2], order=0, mode="nearest")
        for c in range(image.shape[-1])
    ]
    out = np.stack(channels, axis=-1)
    return out[:, ::-1] if flip else out


def random_parameters(count, seed, height, width, spec=BOOK):
    """Draws as 2.0.8 made them: rotation in degrees, shifts as fractions, shear in radians,
    independent zooms in [1 - z, 1 + z], a fair coin for the flip."""
    rng = np.random.default_rng(seed)
    zoom = spec["zoom"]
    return {
        "theta": np.pi / 180 * rng.uniform(-spec["rotation_degrees"], spec["rotation_degrees"], count),
        "tx": rng.uniform(-spec["height_shift"], spec["height_shift"], count),
        "ty": rng.uniform(-spec["width_shift"], spec["width_shift"], count),
        "shear": rng.uniform(-spec["shear_radians"], spec["shear_radians"], count),
        "zx": rng.uniform(1 - zoom, 1 + zoom, count),
        "zy": rng.uniform(1 - zoom, 1 + zoom, count),
        "flip": (rng.random(count) < 0.5).astype(float),
    }


def textured_images(count, height, width, seed=0):
    """Smooth blobs plus 3x3-pixel blocks: areas where nearest sampling is exact and edges."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (count, height // 3 + 1, width // 3 + 1, 3))
    return blocks.repeat(3, axis=1).repeat(3, axis=2)[:, :height, :width].astype(np.float32)


def as_tensors(parameters):
    return {
        key: keras.ops.convert_to_tensor(np.asarray(value, np.float32)) for key, value in parameters.items()
    }


@pytest.mark.parametrize("height, width", [(150, 150), (48, 64)])
def test_same_parameters_give_the_matrix_of_keras_2_0_8(height, width):
    parameters = random_parameters(32, seed=height, height=height, width=width)
    got = keras.ops.convert_to_numpy(BookAugmentation.matrices(as_tensors(parameters), height, width))
    for i in range(32):
        p = {key: value[i] for key, value in parameters.items()}
        expected = keras_208_matrix(
            p["theta"], p["tx"] * height, p["ty"] * width, p["shear"], p["zx"], p["zy"], height, width
        )
        if p["flip"]:
            # the flip after the transform reads column width - 1 - c of the transformed image
            expected = expected @ np.array([[1, 0, 0], [0, -1, width - 1], [0, 0, 1]])
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("height, width", [(150, 150), (48, 64)])
def test_same_image_and_parameters_give_the_pixels_of_keras_2_0_8(height, width):
    images = textured_images(16, height, width)
    parameters = random_parameters(16, seed=7, height=height, width=width)
    layer = BookAugmentation(**BOOK)
    got = keras.ops.convert_to_numpy(
        layer.transform(keras.ops.convert_to_tensor(images), as_tensors(parameters))
    )
    for i in range(16):
        p = {key: value[i] for key, value in parameters.items()}
        matrix = keras_208_matrix(
            p["theta"], p["tx"] * height, p["ty"] * width, p["shear"], p["zx"], p["zy"], height, width
        )
        expected = keras_208_apply(images[i], matrix, p["flip"])
        # Nearest sampling: pixels agree exactly but where a coordinate falls within float32
        # rounding of a pixel boundary; those pick the neighbour.
        same = np.all(got[i] == expected, axis=-1).mean()
        assert same > 0.99, (i, same)


def test_no_transform_in_inference_and_identity_parameters_change_nothing():
    images = textured_images(4, 40, 52)
    layer = BookAugmentation(**BOOK, seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    identity = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1, "flip": 0}
    parameters = as_tensors({key: np.full(4, value) for key, value in identity.items()})
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.transform(images, parameters)), images)
    parameters = as_tensors(
        {**{key: np.full(4, value) for key, value in identity.items()}, "flip": np.ones(4)}
    )
    flipped = keras.ops.convert_to_numpy(layer.transform(images, parameters))
    np.testing.assert_array_equal(flipped, images[:, :, ::-1])


def test_draws_cover_the_books_ranges_independently():
    layer = BookAugmentation(**BOOK, seed=3)
    p = {k: keras.ops.convert_to_numpy(v) for k, v in layer.random_parameters(4000).items()}
    bounds = {
        "theta": math.radians(40),
        "tx": 0.2,
        "ty": 0.2,
        "shear": 0.2,  # radians, as 2.0.8: +-11.5 degrees
    }
    for key, bound in bounds.items():
        assert -bound <= p[key].min() < -0.95 * bound and 0.95 * bound < p[key].max() <= bound, key
    for key in ("zx", "zy"):
        assert 0.8 <= p[key].min() < 0.81 and 1.19 < p[key].max() <= 1.2
    assert 0.45 < p["flip"].mean() < 0.55
    draws = np.stack([p[k] for k in ("theta", "tx", "ty", "shear", "zx", "zy", "flip")])
    correlation = np.corrcoef(draws) - np.eye(len(draws))
    assert np.abs(correlation).max() < 0.1


def test_a_seed_repeats_the_draws_and_another_seed_does_not():
    def draws(seed):
        layer = BookAugmentation(**BOOK, seed=seed)
        return keras.ops.convert_to_numpy(layer.random_parameters(64)["theta"])

    np.testing.assert_array_equal(draws(5), draws(5))
    assert not np.allclose(draws(5), draws(6))


def test_bilinear_interpolation_is_available_and_blurs():
    images = textured_images(8, 60, 60)
    nearest = BookAugmentation(**BOOK, seed=2)
    bilinear = BookAugmentation(**BOOK, seed=2, interpolation="bilinear")
    sharp, soft = (keras.ops.convert_to_numpy(layer(images, training=True)) for layer in (nearest, bilinear))
    assert set(np.unique(sharp)) <= set(np.unique(images))  # nearest only copies pixels
    assert len(np.unique(soft)) > len(np.unique(images))  # bilinear mixes them


def test_config_names_the_shear_unit_and_both_units_agree():
    assert Augmentation.of({"shear_radians": 0.2}).shear_radians == pytest.approx(0.2)
    assert Augmentation.of({"shear_degrees": math.degrees(0.2)}).shear_radians == pytest.approx(0.2)
    assert Augmentation.of({"zoom": 0.1}).shear_radians == 0.0
    with pytest.raises(ConfigError, match="both shear_radians and shear_degrees"):
        Augmentation.of({"shear_radians": 0.2, "shear_degrees": 5})
    layer = augmentation_layers(dict(BOOK), seed=1)[0]
    assert isinstance(layer, BookAugmentation) and layer.shear_radians == pytest.approx(0.2)
    spec = Augmentation.of(
        {k: v for k, v in BOOK.items() if k != "shear_radians"}
        | {"shear_degrees": 11.459, "method": "layers"}
    )
    shear = {layer.name: layer for layer in keras_layers(spec, seed=1)}["shear"]
    assert shear.x_factor == pytest.approx((-math.tan(0.2), math.tan(0.2)), abs=1e-4)


def test_the_book_experiment_uses_one_affine_layer_with_nearest_sampling():
    model_layers = augmentation_layers(experiment_settings(CONFIG, "augmented")["augmentation"], seed=1)
    assert [type(layer).__name__ for layer in model_layers] == ["BookAugmentation"]
    (layer,) = model_layers
    assert (layer.interpolation, layer.fill_mode) == ("nearest", "nearest")
    assert layer.shear_radians == pytest.approx(0.2)
    assert layer.rotation_degrees == 40 and layer.zoom == 0.2 and layer.horizontal_flip


def test_the_layers_method_keeps_keras_layers_and_their_seeds():
    spec = Augmentation.of(dict(BOOK, method="layers", interpolation="bilinear"))
    stack = {layer.name: layer for layer in keras_layers(spec, seed=1)}
    assert list(stack) == ["flip", "rotate", "shift", "shear", "zoom"]
    assert stack["rotate"].factor == pytest.approx((-40 / 360, 40 / 360))
    assert stack["rotate"].interpolation == "bilinear" and stack["zoom"].fill_mode == "nearest"
    # each layer its own seed, unchanged by the affine layer joining the list of random layers
    assert (
        stack["rotate"].seed == layer_seed(1, "rotate") == int(np.random.SeedSequence(1).generate_state(6)[1])
    )


def test_layer_survives_a_config_round_trip():
    layer = BookAugmentation(**BOOK, seed=9, interpolation="bilinear", name="augment")
    clone = BookAugmentation.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
