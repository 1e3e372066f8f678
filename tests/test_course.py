"""The course material's two other convnets (config ``course``): their settings, model checks and
a run of each on tiny data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml
from conftest import copy_tiny_workflow, load_config
from synthetic import image_files, write_zip
from test_workflow_data import snakemake

from convnet.learn.augmentation import BookAugmentation, augmentation_layers
from convnet.core.experiments import experiment_names, experiment_settings
from convnet.learn.model import check_summary, model_from_settings, summary_rows
from convnet.core.settings import RunSettings
from convnet.learn.compiling import compile_model

CONFIG = load_config()
ENABLED = load_config("course")


def test_the_course_experiments_are_off_by_default_and_their_overlay_adds_them():
    assert experiment_names(CONFIG) == ["baseline", "augmented"]
    assert experiment_names(ENABLED) == ["baseline", "augmented", "small_16_32_64", "adam_dropout"]


@pytest.mark.parametrize(
    "name, params, flatten, layers",
    [
        ("small_16_32_64", 9_494_561, 18_496, ["flatten", "dense", "probability"]),
        ("adam_dropout", 130_241, 36_992, ["flatten", "dropout", "probability"]),
    ],
)
def test_each_model_has_the_notes_parameters_and_passes_its_check(name, params, flatten, layers):
    settings = experiment_settings(ENABLED, name)
    model = model_from_settings(settings)
    assert model.count_params() == params
    assert model.get_layer("flatten").output.shape[1] == flatten
    assert [layer.name for layer in model.layers][-len(layers) :] == layers
    check_summary(summary_rows(model), settings["expect"], name)  # raises on any difference


def test_the_optimizers_are_the_notes():
    small = compile_model(
        model_from_settings(experiment_settings(ENABLED, "small_16_32_64")),
        experiment_settings(ENABLED, "small_16_32_64"),
    )
    assert isinstance(small.optimizer, keras.optimizers.RMSprop)
    assert float(small.optimizer.learning_rate) == pytest.approx(1e-3)
    assert small.optimizer.epsilon == pytest.approx(1e-7)
    settings = experiment_settings(ENABLED, "adam_dropout")
    adam = compile_model(model_from_settings(settings), settings)
    assert isinstance(adam.optimizer, keras.optimizers.Adam)
    assert float(adam.optimizer.learning_rate) == pytest.approx(1e-4)
    assert RunSettings.of(experiment_settings(CONFIG, "baseline")).optimizer == "rmsprop"


def test_vertical_flips_turn_half_the_images_upside_down_apart_from_the_horizontal_ones():
    images = np.random.default_rng(0).integers(0, 255, (200, 9, 7, 3)).astype("float32")
    layer = BookAugmentation(horizontal_flip=True, vertical_flip=True, seed=4)
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    kinds = []
    for image, flipped in zip(images, out):
        candidates = {
            "none": image,
            "horizontal": image[:, ::-1],
            "vertical": image[::-1],
            "both": image[::-1, ::-1],
        }
        kinds.append(
            next(kind for kind, candidate in candidates.items() if np.array_equal(flipped, candidate))
        )
    counts = {kind: kinds.count(kind) for kind in ("none", "horizontal", "vertical", "both")}
    assert all(25 <= count <= 75 for count in counts.values()), counts


def test_without_vertical_flips_the_draws_are_as_before():
    images = np.random.default_rng(1).integers(0, 255, (16, 12, 12, 3)).astype("float32")
    spec = {"horizontal_flip": True, "rotation_degrees": 40, "zoom": 0.2}
    before = BookAugmentation(**spec, seed=5)
    now = BookAugmentation(**spec, vertical_flip=False, seed=5)
    for _ in range(2):  # two batches: the stream goes on the same way
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(before(images, training=True)),
            keras.ops.convert_to_numpy(now(images, training=True)),
        )


def test_the_layers_method_flips_both_ways_with_one_layer():
    (flip,) = augmentation_layers(
        {"method": "layers", "horizontal_flip": True, "vertical_flip": True}, seed=1
    )
    assert isinstance(flip, keras.layers.RandomFlip) and flip.mode == "horizontal_and_vertical"


@pytest.mark.slow
def test_both_train_and_are_evaluated_on_tiny_data(tmp_path):
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    tiny = "{expect: null, epochs: 2}"  # the expected counts are at 150x150; the tiny images are 46x46
    targets = [
        f"results/{kind}/{name}/seed1{suffix}"
        for name in ("small_16_32_64", "adam_dropout")
        for kind, suffix in (("metrics", ".json"), ("plots", "_confusion.png"))
    ]
    snakemake(
        tmp_path,
        *targets,
        "--configfile",
        "tests/tiny-config.yaml",
        "config/course.yaml",
        "--config",
        "data={path: pets.zip}",
        f"experiments={{small_16_32_64: {tiny}, adam_dropout: {tiny}}}",
    )
    for target in targets:
        assert (tmp_path / target).is_file(), target
    card = yaml.safe_load((tmp_path / "results/models/adam_dropout/seed1.json").read_text())
    assert card["settings"]["optimizer"] == "adam" and card["settings"]["dense_units"] == 0
    assert card["settings"]["augmentation"]["vertical_flip"] is True
