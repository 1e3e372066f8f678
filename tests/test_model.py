from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

from convnet.core.errors import ConfigError
from convnet.core.experiments import experiment_settings
from convnet.learn.model import check_summary, model_from_settings, summary_rows
from convnet.learn.summary import write_model_summary

# every test here runs again with KERAS_BACKEND=jax (tests/test_jax.py): layers, models, backend
pytestmark = pytest.mark.jax

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
BOOK_SHAPES = {
    "conv1": (148, 148, 32),
    "pool1": (74, 74, 32),
    "conv2": (72, 72, 64),
    "pool2": (36, 36, 64),
    "conv3": (34, 34, 128),
    "pool3": (17, 17, 128),
    "conv4": (15, 15, 128),
    "pool4": (7, 7, 128),
    "flatten": (6272,),
    "dense": (512,),
    "probability": (1,),
}


@pytest.mark.parametrize("name", ["baseline", "augmented"])
def test_book_model_has_the_books_parameters_and_shapes(name):
    model = model_from_settings(experiment_settings(CONFIG, name))
    assert model.count_params() == 3_453_121
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    for layer, shape in BOOK_SHAPES.items():
        assert shapes[layer] == shape, layer
    assert ("dropout" in shapes) == (name == "augmented")
    assert model.layers[-1].dtype_policy.name == "float32"


def test_layers_method_maps_the_books_arguments_to_keras_layers():
    settings = experiment_settings(CONFIG, "augmented")
    settings["augmentation"]["method"] = "layers"
    model = model_from_settings(settings)
    layers = {layer.name: layer for layer in model.layers}
    assert layers["flip"].mode == "horizontal"
    assert layers["rotate"].factor == pytest.approx((-40 / 360, 40 / 360))
    for name in ("shift", "zoom"):
        bounds = [
            getattr(layers[name], f"{axis}_{end}")
            for axis in ("height", "width")
            for end in ("lower", "upper")
        ]
        assert bounds == pytest.approx([-0.2, 0.2, -0.2, 0.2])
    assert layers["shear"].x_factor == pytest.approx((-0.20271, 0.20271), abs=1e-5)  # tan(0.2 rad)
    assert layers["shear"].y_factor == pytest.approx((0.0, 0.0))
    for name in ("rotate", "shift", "shear", "zoom"):
        assert layers[name].fill_mode == "nearest"
    names = [layer.name for layer in model.layers]
    assert names.index("zoom") < names.index("rescale") < names.index("conv1")


def test_keras_augmentation_layers_let_jax_compile_the_training_step():
    """Keras marks its rotation, shift, shear and zoom layers unfit for XLA (TensorFlow's op has no
    kernel), and one such layer makes it train the whole model eagerly; on JAX the workflow marks
    them fit."""
    import keras

    from convnet.learn.compiling import compile_model

    settings = dict(experiment_settings(CONFIG, "augmented"), seed=1)
    settings["augmentation"]["method"] = "layers"
    model = compile_model(model_from_settings(settings), settings)
    unfit = sorted(layer.name for layer in model.layers if not layer.supports_jit)
    if keras.backend.backend() == "jax":
        assert unfit == [] and model.jit_compile
    else:
        assert unfit == ["rotate", "shear", "shift", "zoom"]


def test_book_augmentation_is_one_layer_before_rescaling():
    model = model_from_settings(dict(experiment_settings(CONFIG, "augmented"), seed=1))
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["image", "augment", "rescale"]
    assert model.count_params() == 3_453_121


def test_summary_check_passes_for_the_book_and_writes_both_files(tmp_path):
    rows = write_model_summary(
        "baseline", experiment_settings(CONFIG, "baseline"), tmp_path / "s.txt", tmp_path / "s.tsv"
    )
    assert "3,453,121" in (tmp_path / "s.txt").read_text()
    table = (tmp_path / "s.tsv").read_text().splitlines()
    assert table[0] == "layer\ttype\toutput_shape\tparams\ttrainable_params"
    assert "conv1\tConv2D\t148x148x32\t896\t896" in table
    assert len(table) == 1 + len(rows)


def test_changed_architecture_fails_the_check_naming_layer_and_values(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"]["wide"] = {"conv_filters": [16, 64, 128, 128]}
    settings = experiment_settings(config, "wide")
    with pytest.raises(ConfigError, match=r"parameters but experiments.wide.expect.params expects 3,453,121"):
        write_model_summary("wide", settings, tmp_path / "s.txt", tmp_path / "s.tsv")
    assert not (tmp_path / "s.txt").exists()
    config["experiments"]["wider"] = {"conv_filters": [32, 64, 128, 256]}
    with pytest.raises(
        ConfigError, match=r"layer flatten \(Flatten\) outputs 12544 but .*shapes expects 6272"
    ):
        write_model_summary(
            "wider", experiment_settings(config, "wider"), tmp_path / "s.txt", tmp_path / "s.tsv"
        )

    config["experiments"]["small"] = {"image_size": [128, 128]}
    with pytest.raises(ConfigError, match=r"layer conv1 \(Conv2D\) outputs 126 but .*shapes expects 148"):
        write_model_summary(
            "small", experiment_settings(config, "small"), tmp_path / "s.txt", tmp_path / "s.tsv"
        )

    config["experiments"]["free"] = {"image_size": [128, 128], "expect": None}
    write_model_summary("free", experiment_settings(config, "free"), tmp_path / "s.txt", tmp_path / "s.tsv")


def test_image_too_small_for_the_architecture():
    settings = dict(experiment_settings(CONFIG, "baseline"), image_size=[40, 40])
    with pytest.raises(ConfigError, match="too small for 4 convolution blocks: use at least 46"):
        model_from_settings(settings, "baseline")


def test_unknown_experiment():
    with pytest.raises(ConfigError, match="unknown experiment 'nope'.*baseline, augmented"):
        experiment_settings(CONFIG, "nope")


def test_shape_count_mismatch():
    rows = summary_rows(model_from_settings(experiment_settings(CONFIG, "baseline")))
    with pytest.raises(ConfigError, match="lists 3"):
        check_summary(rows, {"shapes": [148, 74, 72]}, "baseline")


def test_seeded_augmentation_layers_draw_independently():
    """With one seed shared by every layer, each flipped image was also rotated the same way and
    zoomed by an amount tied to its angle (the layers drew the same numbers)."""
    import numpy as np

    from convnet.learn.augmentation import keras_layers

    from convnet.core.settings import Augmentation

    spec = Augmentation.of(dict(experiment_settings(CONFIG, "augmented")["augmentation"], method="layers"))
    layers = {layer.name: layer for layer in keras_layers(spec, seed=1)}
    images = np.zeros((256, 46, 46, 3), dtype="float32")
    draws = {
        name: np.asarray(layers[name].get_random_transformation(images, training=True)[key], dtype=float)
        for name, key in (("flip", "flips"), ("rotate", "angle"), ("zoom", "height_zoom"))
    }
    flipped, angle, zoom = draws["flip"].ravel() > 0.5, draws["rotate"].ravel(), draws["zoom"].ravel()
    assert 0.35 < np.mean(flipped == (angle < 0)) < 0.65
    assert abs(np.corrcoef(angle, zoom)[0, 1]) < 0.2


def test_architecture_keys_are_the_model_settings_fields():
    from dataclasses import fields

    from convnet.core.experiments import ARCHITECTURE_KEYS, architecture_settings
    from convnet.core.settings import ModelSettings, RunSettings

    assert set(ARCHITECTURE_KEYS) == {f.name for f in fields(ModelSettings)} - {"seed", "num_classes"}
    model = ModelSettings.of(architecture_settings(CONFIG, "augmented"))
    assert model.augmentation.shear_radians == pytest.approx(0.2) and model.seed is None
    run = RunSettings.of(dict(experiment_settings(CONFIG, "augmented"), seed=2))
    assert run.seed == 2 and run.epochs == 100 and run.image_size == (150, 150)
    with pytest.raises(ConfigError, match="the settings leave out learning_rate, batch_size"):
        RunSettings.of(architecture_settings(CONFIG, "augmented"))  # a run needs its training
