"""Beyond the book from scratch (config ``beyond``): the residual model family, the training settings
of today's recipes (AdamW, SGD, a cosine schedule with warm-up, label smoothing, a moving average of
the weights) and test-time augmentation at evaluation; each builds, trains, resumes identically and
evaluates, on tiny data."""

from __future__ import annotations

import json
import math
import re
import sys

import keras
import numpy as np
import pytest
import yaml
from conftest import ROOT, copy_tiny_workflow, load_config
from synthetic import image_files, write_zip
from test_train import SIZE, TINY, Preempt, assert_same_run, read_history, run, write_caches
from test_workflow_data import snakemake

from convnet.learn.augmentation import BookAugmentation, augmentation_layers
from convnet.arrays.cache import load_image_set
from convnet.learn.evaluate import evaluate_experiment, predict
from convnet.learn.export import load_portable
from convnet.core.experiments import (
    architecture_settings,
    check_experiments,
    evaluation_settings,
    experiment_names,
    experiment_settings,
    fingerprint,
    run_settings,
)
from convnet.arrays.metrics import classification_metrics
from convnet.learn.model import check_summary, model_from_settings, summary_rows
from convnet.core.settings import RunSettings
from convnet.core.tables import run_rows
from convnet.learn.compiling import compile_model, make_loss

CONFIG = load_config()
ENABLED = load_config("beyond")
BEYOND = tuple(yaml.safe_load((ROOT / "config" / "beyond.yaml").read_text())["experiments"])

# the residual family at the tiny size, with every new training setting on
RESIDUAL = dict(
    TINY,
    architecture="residual",
    conv_filters=[4, 8],
    stem_filters=4,
    stem_kernel=3,
    dense_units=0,
    dropout=0.25,
)
RECIPE = dict(
    optimizer="adamw",
    weight_decay=0.05,
    learning_rate_schedule="cosine",
    warmup_epochs=1,
    label_smoothing=0.1,
    ema=0.9,
)
LAYERS = {
    "method": "layers",
    "interpolation": "bilinear",
    "fill_mode": "reflect",
    "horizontal_flip": True,
    "rotation_degrees": 36,
    "zoom": 0.2,
    "zoom_keep_aspect": True,
}


@pytest.fixture
def caches(tmp_path):
    return write_caches(tmp_path)


def test_the_experiments_are_off_by_default_and_one_switch_adds_them():
    assert experiment_names(CONFIG) == ["baseline", "augmented"]
    assert experiment_names(ENABLED) == ["baseline", "augmented", *BEYOND]
    assert "xception_small" in BEYOND and "from_scratch_best" in BEYOND


@pytest.mark.jax
def test_xception_small_is_the_books_mini_xception_with_its_721857_parameters():
    settings = experiment_settings(ENABLED, "xception_small")
    model = model_from_settings(settings)
    assert model.count_params() == 721_857
    check_summary(summary_rows(model), settings["expect"], "xception_small")  # raises on a difference
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("SeparableConv2D") == 10 and kinds.count("BatchNormalization") == 10
    assert kinds.count("Add") == 5 and "GlobalAveragePooling2D" in kinds and "Flatten" not in kinds
    # as in the book's text: no convolution has a bias, batch normalization before each
    assert all(not layer.use_bias for layer in model.layers if "Conv" in type(layer).__name__)
    assert model.input.shape[1:] == (180, 180, 3)
    assert [layer.name for layer in model.layers][-3:] == ["pool", "dropout", "probability"]


@pytest.mark.jax
def test_every_beyond_experiment_builds_and_passes_its_check():
    for name in BEYOND:
        settings = experiment_settings(ENABLED, name)
        check_summary(summary_rows(model_from_settings(settings)), settings["expect"], name)


@pytest.mark.jax
def test_standard_convolutions_and_a_strided_stem_are_settings():
    model = model_from_settings(
        dict(RESIDUAL, separable=False, stem_stride=2, convs_per_block=3, dense_units=16, num_classes=5)
    )
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "SeparableConv2D" not in kinds and kinds.count("Conv2D") == 1 + 2 * 3 + 2
    assert model.get_layer("stem").output.shape[1] == (SIZE - 3) // 2 + 1
    assert model.get_layer("block2_add").output.shape[1:] == (6, 6, 8)
    assert model.output.shape[1:] == (5,) and model.get_layer("dense").units == 16


def test_residual_keys_change_the_model_check_and_the_book_experiments_stay_as_they_were():
    book = architecture_settings(CONFIG, "augmented")
    assert "architecture" not in book and "separable" not in book  # no rerun of the book's runs
    assert architecture_settings(ENABLED, "xception_small")["separable"] is True
    assert "test_time_augmentation" not in run_settings(ENABLED, "from_scratch_best", 1)


@pytest.mark.jax
def test_the_optimizers_take_weight_decay_and_sgd_has_nesterov_momentum():
    model = model_from_settings(RESIDUAL)
    adamw = compile_model(model, dict(RESIDUAL, optimizer="adamw", weight_decay=0.05)).optimizer
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)
    sgd = compile_model(model, dict(RESIDUAL, optimizer="sgd", weight_decay=5e-4)).optimizer
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == pytest.approx(0.9)
    assert sgd.weight_decay == pytest.approx(5e-4)
    rmsprop = compile_model(model, RESIDUAL).optimizer
    assert isinstance(rmsprop, keras.optimizers.RMSprop) and rmsprop.weight_decay is None
    assert not rmsprop.use_ema


@pytest.mark.jax
def test_the_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    settings = dict(RESIDUAL, epochs=10, learning_rate=0.01, learning_rate_schedule="cosine", warmup_epochs=2)
    schedule = compile_model(
        model_from_settings(RESIDUAL), settings, steps_per_epoch=5
    ).optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50)]
    assert rates[0] == pytest.approx(0.0) and rates[1] == pytest.approx(0.005)
    assert rates[2] == pytest.approx(0.01)  # the end of the warm-up: the peak
    assert rates[3] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 20 / 40)))
    assert rates[4] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.jax
def test_a_floor_ends_the_cosine_decay_at_that_fraction_of_the_learning_rate():
    settings = dict(
        RESIDUAL,
        epochs=10,
        learning_rate=0.01,
        learning_rate_schedule="cosine",
        warmup_epochs=2,
        learning_rate_floor=0.2,
    )
    schedule = compile_model(
        model_from_settings(RESIDUAL), settings, steps_per_epoch=5
    ).optimizer._learning_rate
    assert float(schedule(10)) == pytest.approx(0.01)
    # halfway through the decay: the mean of the peak and the floor
    assert float(schedule(30)) == pytest.approx(0.01 * (0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 20 / 40))))
    assert float(schedule(50)) == pytest.approx(0.002)


def test_a_warm_up_as_long_as_the_run_is_a_clear_error():
    settings = dict(RESIDUAL, epochs=2, learning_rate_schedule="cosine", warmup_epochs=2)
    with pytest.raises(Exception, match="warmup_epochs 2 leaves no epoch"):
        compile_model(model_from_settings(RESIDUAL), settings, steps_per_epoch=5)


@pytest.mark.jax
@pytest.mark.parametrize("num_classes", [2, 4])
def test_label_smoothing_moves_the_target_towards_uniform(num_classes):
    loss = make_loss(RunSettings.of(dict(RESIDUAL, label_smoothing=0.2, num_classes=num_classes)))
    if num_classes == 2:
        p = np.array([[0.9], [0.3]], "float32")
        value = float(loss(np.array([[1.0], [0.0]], "float32"), p))
        targets = np.array([0.9, 0.1])  # 1 -> 1 - s/2, 0 -> s/2
        expected = -np.mean(targets * np.log(p[:, 0]) + (1 - targets) * np.log(1 - p[:, 0]))
    else:
        p = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.4, 0.1]], "float32")
        labels = np.array([0, 2])
        value = float(loss(labels.astype("float32"), p))
        targets = np.full((2, 4), 0.2 / 4)
        targets[[0, 1], labels] += 0.8
        expected = -np.mean(np.sum(targets * np.log(p), axis=1))
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.jax
def test_one_zoom_factor_keeps_the_aspect_ratio_in_both_methods():
    layer = BookAugmentation(zoom=0.2, zoom_keep_aspect=True, seed=3)
    drawn = layer.random_parameters(64)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(drawn["zx"]), keras.ops.convert_to_numpy(drawn["zy"])
    )
    assert float(keras.ops.max(keras.ops.abs(drawn["zx"] - 1.0))) > 0.1
    independent = BookAugmentation(zoom=0.2, seed=3).random_parameters(64)
    assert not np.array_equal(
        keras.ops.convert_to_numpy(independent["zx"]), keras.ops.convert_to_numpy(independent["zy"])
    )
    (zoom,) = augmentation_layers({"method": "layers", "zoom": 0.2, "zoom_keep_aspect": True}, seed=1)
    assert zoom.height_factor == 0.2 and zoom.width_factor is None


# The recipe trained straight through once, for the tests that check it and the resumes compared
# with it (one xdist group: they share one worker and so this run).
SHARES_THE_RECIPE_RUN = pytest.mark.xdist_group("recipe-run")


@pytest.fixture(scope="session")  # not "module": a worker may run other modules in between
def recipe_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    caches = write_caches(folder)
    settings = dict(RESIDUAL, **RECIPE, augmentation=LAYERS, epochs=3)
    out, _ = run(folder, caches, settings, tag="straight")
    return settings, caches, out


@pytest.mark.slow
@pytest.mark.jax
@SHARES_THE_RECIPE_RUN
def test_the_recipe_trains_and_its_saved_models_are_the_averaged_weights_it_validated(recipe_run):
    settings, caches, out = recipe_run
    rows = read_history(out / "tiny.csv")
    # warm-up over epoch 1 (4 steps of 16), then the cosine decay: the rate logged after each epoch
    rates = [float(row["learning_rate"]) for row in rows]
    assert (
        rates[0] == pytest.approx(1e-3) and rates[1] == pytest.approx(5e-4) and rates[2] == pytest.approx(0)
    )
    validation = load_image_set(caches[1])
    for name, val_loss in (
        ("tiny.h5", rows[-1]["val_loss"]),
        ("tiny_best.h5", min(r["val_loss"] for r in rows)),
    ):
        model = keras.models.load_model(out / name, compile=False)
        compile_model(model, settings)
        loss, _ = model.evaluate(validation.images, validation.labels, batch_size=16, verbose=0)
        assert loss == pytest.approx(float(val_loss), rel=1e-4), name
    card = json.loads((out / "tiny.json").read_text()) if (out / "tiny.json").exists() else None
    assert card is None  # (the run card is the workflow's: test_the_workflow_runs_them_on_tiny_data)


@pytest.mark.parametrize("stop_after", [pytest.param(1, marks=pytest.mark.jax), 2])
@pytest.mark.slow
@SHARES_THE_RECIPE_RUN
def test_a_resumed_run_of_the_recipe_equals_an_uninterrupted_one(tmp_path, recipe_run, stop_after):
    """Schedule position, moving averages, augmentation and dropout state all come back."""
    settings, caches, straight = recipe_run
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, settings, tag="resumed", extra_callbacks=[Preempt(stop_after)])
    resumed, history = run(tmp_path, caches, settings, tag="resumed")
    assert [int(row["epoch"]) for row in history] == [1, 2, 3]
    assert_same_run(straight, resumed)


@pytest.mark.jax
def test_test_time_augmentation_is_reported_beside_the_plain_numbers(tmp_path, caches):
    out, _ = run(tmp_path, caches, dict(RESIDUAL, epochs=1))
    models = {"last": out / "tiny.h5", "best": out / "tiny_best.h5"}
    # one batch size throughout: on some CPUs (AVX2, float32) a convolution's last bits depend on it
    batch = 8

    def evaluate(name, **options):
        files = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
        return evaluate_experiment("tiny", 3, models, caches[1], *files, batch, **options)

    plain, tta = evaluate("plain"), evaluate("tta", test_time_augmentation=True)
    for checkpoint in ("last", "best"):
        assert tta[checkpoint] == plain[checkpoint]  # never in place of the plain number
    validation = load_image_set(caches[1])
    model = load_portable(out / "tiny.h5")
    images = validation.images[0 : len(validation)]
    mean = (predict(model, images, batch) + predict(model, images[:, :, ::-1], batch)) / 2
    assert tta["last_tta"] == classification_metrics(validation.labels, mean, validation.classes)
    assert "last_tta" not in plain
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "tta.csv").read_bytes()
    checkpoints = [row["checkpoint"] for row in run_rows([tmp_path / "tta.json"])]
    assert checkpoints == ["last", "last_tta", "best", "best_tta"]


def test_a_warm_up_as_long_as_the_run_is_refused_when_the_config_is_read():
    config = dict(
        ENABLED, experiments={**ENABLED["experiments"], "short": dict(RECIPE, epochs=3, warmup_epochs=3)}
    )
    with pytest.raises(Exception, match="experiments.short.warmup_epochs 3 leaves none of its 3 epochs"):
        check_experiments(config)


def test_an_experiment_based_on_another_changes_only_what_it_names():
    ablation = yaml.safe_load((ROOT / "config" / "beyond-ablation.yaml").read_text())
    config = dict(ENABLED, experiments={**ENABLED["experiments"], **ablation["experiments"]})
    for name, own in ablation["experiments"].items():
        base = experiment_settings(config, own["based_on"])
        variant = experiment_settings(config, name)
        changed = {key for key in base if variant.get(key) != base[key]}
        assert changed <= set(own) - {"based_on"}, (name, changed)
        assert "based_on" not in variant
    # a chain: the first recipe is the second's with its own changes, the second from_scratch_best's
    assert experiment_settings(config, "first_recipe")["dropout"] == 0.25
    assert experiment_settings(config, "ablation_no_ema")["ema"] == 0.0
    augmentation = experiment_settings(config, "ablation_book_augmentation")["augmentation"]
    assert augmentation["method"] == "affine" and augmentation["shear_radians"] == 0.2


def test_a_variant_that_sets_a_setting_back_to_null_is_the_run_without_it():
    """cutmix_recipe with ``mix: null`` is the recipe it is based on: the same run and fingerprint,
    so the same checkpoints and run card, as an experiment that never set ``mix``."""
    ablation = yaml.safe_load((ROOT / "config" / "beyond-ablation.yaml").read_text())
    experiments = {
        **ENABLED["experiments"],
        **ablation["experiments"],
        "no_mix": {"based_on": "cutmix_recipe", "mix": None},
    }
    config = dict(ENABLED, experiments=experiments)
    assert experiment_settings(config, "cutmix_recipe")["mix"]["method"] == "cutmix"
    assert "mix" not in experiment_settings(config, "no_mix")
    base = "from_scratch_best_no_floor"
    assert run_settings(config, "no_mix", 1) == run_settings(config, base, 1)
    assert fingerprint(run_settings(config, "no_mix", 1)) == fingerprint(run_settings(config, base, 1))


@pytest.mark.parametrize(
    "experiments, message",
    [
        ({"a": {"based_on": "nothing"}}, "experiments.a.based_on is 'nothing', which is not an experiment"),
        (
            {"a": {"based_on": "xception_small"}},
            "beyond.yaml add the optional families' experiments with --configfile",
        ),
        ({"a": {"based_on": "b"}, "b": {"based_on": "a"}}, "goes round in a circle: a -> b -> a"),
    ],
)
def test_a_based_on_that_leads_nowhere_is_a_clear_error(experiments, message):
    with pytest.raises(Exception, match=re.escape(message)):
        experiment_settings(dict(CONFIG, experiments=experiments), "a")


def test_test_time_augmentation_is_an_evaluation_setting():
    assert evaluation_settings(CONFIG, "augmented") == {"test_time_augmentation": False}
    assert evaluation_settings(ENABLED, "from_scratch_best") == {"test_time_augmentation": True}


@pytest.mark.slow
def test_the_workflow_runs_them_on_tiny_data(tmp_path):
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    # the expected counts are at full size; the tiny images are 46x46
    tiny = "{image_size: [46, 46], expect: null, epochs: 2, warmup_epochs: 1, conv_filters: [4, 8], stem_filters: 4}"
    # the two experiments' own outputs (the book's two go through the same rules in test_workflow_e2e)
    targets = [
        f"results/{kind}/{name}/seed1{suffix}"
        for name in BEYOND
        for kind, suffix in (("metrics", ".json"), ("plots", "_confusion.png"))
    ] + [f"results/metrics/{name}_summary.csv" for name in BEYOND]
    experiments = ", ".join(f"{name}: {tiny}" for name in BEYOND)
    config = [
        "--configfile",
        "tests/tiny-config.yaml",
        "config/beyond.yaml",
        "--config",
        "data={path: pets.zip}",
        f"experiments={{{experiments}}}",
    ]
    plan = snakemake(tmp_path, "-n", "results/metrics/test_metrics.csv", *config).stdout
    assert all(f"experiment={name}" in plan for name in (*BEYOND, "baseline", "augmented")), plan[-2000:]
    snakemake(tmp_path, *targets, *config)
    for target in targets:
        assert (tmp_path / target).is_file(), target
    card = yaml.safe_load((tmp_path / "results/models/from_scratch_best/seed1.json").read_text())
    best = experiment_settings(ENABLED, "from_scratch_best")
    for key in ("architecture", "optimizer", "learning_rate_schedule", "label_smoothing", "ema"):
        assert card["settings"][key] == best[key], key
    metrics = json.loads((tmp_path / "results/metrics/from_scratch_best/seed1.json").read_text())
    assert {"last", "best", "last_tta", "best_tta"} <= set(metrics)
    tables = {name: (tmp_path / f"results/metrics/{name}_summary.csv").read_text() for name in BEYOND}
    assert ",last_tta," in tables["from_scratch_best"] and ",last_tta," not in tables["xception_small"]


def test_the_flop_count_is_the_books_convnet_by_hand_and_counts_separable_convolutions_by_parts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from model_cost import forward_flops

    book = model_from_settings(experiment_settings(CONFIG, "augmented"))
    by_hand = sum(
        2 * side * side * 9 * inputs * filters
        for side, inputs, filters in ((148, 3, 32), (72, 32, 64), (34, 64, 128), (15, 128, 128))
    ) + 2 * (6272 * 512 + 512)
    assert forward_flops(book) == by_hand  # 0.472 GFLOP
    x = keras.Input((10, 10, 4))
    separable = keras.Model(x, keras.layers.SeparableConv2D(8, 3, padding="same")(x))
    assert forward_flops(separable) == 2 * (100 * 9 * 4 + 100 * 4 * 8)
