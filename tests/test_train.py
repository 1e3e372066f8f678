"""Training on tiny synthetic images: outputs, reload, resume after interruption, repeatability."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
import logging
import math

import keras
import numpy as np
import pytest
from conftest import run_paths

from convnet.arrays.cache import ImageSet, save_image_set
from convnet.core.errors import ConfigError, DataError
from convnet.core.records import HISTORY_COLUMNS
from convnet.learn.callbacks import StopOnNaN, TrainingError
from convnet.learn.train import train_experiment

SIZE = 46  # the smallest side four conv/pool blocks accept

TINY = {
    "image_size": [SIZE, SIZE],
    "conv_filters": [4, 4, 4, 4],
    "dense_units": 8,
    "dropout": 0.0,
    "augmentation": None,
    "learning_rate": 1e-3,
    "batch_size": 16,
    "epochs": 3,
    "steps_per_epoch": None,
    "seed": 3,
    "precision": "float32",
    "expect": None,
    # what a settings mapping without them meant before each default lived in one place
    "resize_interpolation": "nearest",
    "rmsprop_epsilon": 1e-7,
    "class_weight": None,
    "init_from": None,
    "base": None,
}
BOOK_AUGMENTATION = {
    "horizontal_flip": True,
    "rotation_degrees": 40,
    "width_shift": 0.2,
    "height_shift": 0.2,
    "shear_degrees": 0.2,
    "zoom": 0.2,
    "fill_mode": "nearest",
}


def synthetic_set(n: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.float32)
    images = rng.integers(0, 80, (n, SIZE, SIZE, 3)).astype(np.uint8)
    images[labels == 1, :, :, 2] += 120  # dogs are bluer: learnable in a few epochs
    return ImageSet(images, labels, np.array([f"f{i}.jpg" for i in range(n)]), ("cats", "dogs"))


def write_caches(folder: Path) -> tuple[Path, Path]:
    """A training and a validation cache of synthetic images in ``folder``."""
    train, validation = folder / "train.npz", folder / "validation.npz"
    save_image_set(train, synthetic_set(64, 1))
    save_image_set(validation, synthetic_set(32, 2))
    return train, validation


@pytest.fixture
def caches(tmp_path):
    return write_caches(tmp_path)


def run(tmp_path, caches, settings, tag="run", extra_callbacks=None, **paths):
    out = tmp_path / tag
    history = train_experiment(
        "tiny",
        settings,
        run_paths(caches, out, "tiny", **paths),
        threads=2,
        extra_callbacks=extra_callbacks,
    )
    return out, history


def read_history(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    "augmentation",
    [pytest.param(None, marks=pytest.mark.jax), pytest.param(BOOK_AUGMENTATION, marks=pytest.mark.slow)],
)
def test_training_writes_models_and_history_that_reload_to_the_same_numbers(tmp_path, caches, augmentation):
    out, history = run(tmp_path, caches, dict(TINY, epochs=2, augmentation=augmentation))
    rows = read_history(out / "tiny.csv")
    assert list(rows[0]) == HISTORY_COLUMNS
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["seconds"]) > 0 and float(r["learning_rate"]) == pytest.approx(1e-3) for r in rows)
    assert not (out / "checkpoint").exists()

    validation = np.load(caches[1])
    last = keras.models.load_model(out / "tiny.h5")
    loss, _ = last.evaluate(validation["images"], validation["labels"], batch_size=16, verbose=0)
    assert loss == pytest.approx(float(rows[-1]["val_loss"]), rel=1e-4)
    best = keras.models.load_model(out / "tiny_best.h5")
    best_loss, _ = best.evaluate(validation["images"], validation["labels"], batch_size=16, verbose=0)
    assert best_loss == pytest.approx(min(float(r["val_loss"]) for r in rows), rel=1e-4)
    again = keras.models.load_model(out / "tiny.h5")
    np.testing.assert_array_equal(
        last.predict(validation["images"], verbose=0), again.predict(validation["images"], verbose=0)
    )
    assert last.layers[1].dtype_policy.name == "float32"


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_same_run(straight: Path, resumed: Path, stem: str = "tiny") -> None:
    """The same history (but for the seconds) and the same weights in both models."""
    assert without_seconds(read_history(resumed / f"{stem}.csv")) == without_seconds(
        read_history(straight / f"{stem}.csv")
    )
    for name in (f"{stem}.h5", f"{stem}_best.h5"):
        a, b = (keras.models.load_model(folder / name) for folder in (straight, resumed))
        for x, y in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(x, y)


class Preempt(keras.callbacks.Callback):
    """Stands in for a killed job: stops the process right after epoch ``after`` is checkpointed."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_training_resumes_and_lists_every_epoch_once(tmp_path, caches, caplog):
    settings = dict(TINY, epochs=4, augmentation=BOOK_AUGMENTATION, steps_per_epoch=5)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, settings, extra_callbacks=[Preempt(2)])
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2
    assert not (tmp_path / "run" / "tiny.h5").exists()

    with caplog.at_level(logging.INFO):
        out, history = run(tmp_path, caches, settings)
    assert "resuming after epoch 2" in caplog.text
    assert [int(r["epoch"]) for r in read_history(out / "tiny.csv")] == [1, 2, 3, 4]
    assert "epoch 1/4" not in caplog.text and "epoch 3/4" in caplog.text


@pytest.mark.parametrize(
    "changes, stop_after",
    [
        pytest.param({}, 1, marks=pytest.mark.slow),  # one pass per epoch, no random layers
        pytest.param(
            {"augmentation": BOOK_AUGMENTATION, "dropout": 0.5, "steps_per_epoch": 5},
            2,
            marks=pytest.mark.jax,
        ),
        pytest.param(
            {"augmentation": dict(BOOK_AUGMENTATION, method="layers"), "dropout": 0.5, "steps_per_epoch": 3},
            3,
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, caches, changes, stop_after):
    """Shuffling, augmentation and dropout continue where they stopped: same history (but for the
    seconds) and same final weights as a run that was never interrupted."""
    settings = dict(TINY, epochs=4, **changes)
    straight, straight_history = run(tmp_path, caches, settings, tag="straight")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, settings, tag="resumed", extra_callbacks=[Preempt(stop_after)])
    resumed, resumed_history = run(tmp_path, caches, settings, tag="resumed")

    assert [int(row["epoch"]) for row in resumed_history] == [1, 2, 3, 4]
    assert_same_run(straight, resumed)


def cut_short(path: Path, size: int = 1000) -> None:
    path.write_bytes(path.read_bytes()[:size])


@pytest.fixture(scope="session")  # not "module": a worker may run other modules in between
def preempted_run(tmp_path_factory):
    """A run straight through and the same run stopped after epoch 3 of 4, made once for the damage
    cases (one xdist group: one worker), each of which damages a copy of the stopped run's folder."""
    folder = tmp_path_factory.mktemp("preempted")
    caches = write_caches(folder)
    settings = dict(TINY, epochs=4, augmentation=BOOK_AUGMENTATION, dropout=0.5, steps_per_epoch=3)
    straight, _ = run(folder, caches, settings, tag="straight")
    with pytest.raises(KeyboardInterrupt):
        run(folder, caches, settings, tag="resumed", extra_callbacks=[Preempt(3)])
    return settings, caches, straight, folder / "resumed"


@pytest.mark.parametrize(
    "damage, resumes_after",
    [
        ("weights", 2),  # the probe: epoch-3.weights.h5 cut to 1,000 bytes after a kill
        pytest.param("random", 2, marks=pytest.mark.slow),
        pytest.param("best", 2, marks=pytest.mark.slow),
        pytest.param("state", 2, marks=pytest.mark.slow),
        # epochs 3 and 2 damaged: nothing to fall back on but a fresh start
        pytest.param("both", 0, marks=pytest.mark.slow),
        pytest.param("history", 0, marks=pytest.mark.slow),
    ],
)
@pytest.mark.xdist_group("preempted-run")
def test_a_damaged_checkpoint_falls_back_and_gives_the_uninterrupted_history(
    tmp_path, preempted_run, caplog, damage, resumes_after
):
    settings, caches, straight, preempted = preempted_run
    shutil.copytree(preempted, tmp_path / "resumed")
    folder = tmp_path / "resumed" / "checkpoint"
    state = json.loads((folder / "state.json").read_text())
    assert state["epoch"] == 3 and (folder / "previous.json").is_file()
    if damage in ("weights", "both"):
        cut_short(folder / "epoch-3.weights.h5")
    if damage == "both":
        cut_short(folder / "epoch-2.weights.h5")
    if damage == "random":
        cut_short(folder / "random-3.npz", 100)
    if damage == "best":
        cut_short(folder / state["best"], 300)
    if damage == "state":
        cut_short(folder / "state.json", 40)
    if damage == "history":
        cut_short(folder / "history.csv", 60)

    with caplog.at_level(logging.INFO):
        resumed, history = run(tmp_path, caches, settings, tag="resumed")
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "convnet.learn.checkpoints"
    ]
    assert len(warnings) == 1 and "is damaged" in warnings[0], warnings
    if resumes_after:
        assert f"resuming after epoch {resumes_after} instead" in warnings[0]
    else:
        assert warnings[0].endswith("starting over")

    assert_same_run(straight, resumed)


def test_the_run_card_says_how_the_model_was_made_and_travels_inside_the_h5(tmp_path, caches):
    from convnet.core.runcard import RunCard

    settings = dict(TINY, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, settings, extra_callbacks=[Preempt(2)])
    out, _ = run(tmp_path, caches, settings, run_card=tmp_path / "run" / "card.json", project=tmp_path)
    card = json.loads((out / "card.json").read_text())
    assert card["experiment"] == "tiny" and card["seed"] == 3 and card["settings"]["epochs"] == 3
    assert card["precision"] == "float32" and card["hardware"]["backend"] == keras.backend.backend()
    assert card["hardware"]["cpu"] and card["hardware"]["gpus"] == [] and card["hardware"]["threads"] == 2
    assert card["software"]["keras"] == keras.__version__ and keras.backend.backend() in card["software"]
    assert card["training"]["epochs"] == 3 and card["training"]["resumed_after_epochs"] == [2]
    assert card["training"]["started"] < card["training"]["finished"]
    assert card["data"]["train_images"] == 64 and len(card["data"]["pixels_sha256"]) == 16
    assert card["project"] is None  # tmp_path is no git clone
    # one record, one reader: the JSON beside the models and the cards inside them
    beside = RunCard.read(out / "card.json")
    assert (
        beside.as_dict() == card and beside.classes == ["cats", "dogs"] and beside.image_size == (SIZE, SIZE)
    )
    for name, checkpoint in (("tiny.h5", "last"), ("tiny_best.h5", "best")):
        embedded = RunCard.read(out / name)
        assert embedded.checkpoint == checkpoint
        assert embedded.for_checkpoint(None) == beside
    keras.models.load_model(out / "tiny.h5")  # the attribute does not get in Keras's way
    with pytest.raises(DataError, match="card.json: its run card cannot be read"):
        (out / "card.json").write_text('{"experiment": "tiny"}')
        RunCard.read(out / "card.json")


def test_a_checkpoint_from_other_images_is_not_resumed(tmp_path, caches, caplog):
    """Same settings, same number of images, other photos: the checkpoint must not be resumed."""
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, dict(TINY, epochs=3), extra_callbacks=[Preempt(1)])
    save_image_set(caches[0], synthetic_set(64, 99))
    with caplog.at_level(logging.INFO):
        run(tmp_path, caches, dict(TINY, epochs=3))
    assert "from other settings or data" in caplog.text
    assert "resuming" not in caplog.text and "epoch 1/3" in caplog.text


def test_batch_plan_is_a_function_of_the_seed_and_each_pass_a_permutation():
    from convnet.learn.pipeline import batch_plan

    def flat(plan):
        return np.concatenate([batch for epoch in plan for batch in epoch])

    plan = batch_plan(10, 4, None, seed=1, epochs=3)
    assert [[len(batch) for batch in epoch] for epoch in plan] == [[4, 4, 2]] * 3
    for epoch in plan:
        assert sorted(np.concatenate(epoch)) == list(range(10))
    assert not np.array_equal(np.concatenate(plan[0]), np.concatenate(plan[1]))
    np.testing.assert_array_equal(flat(plan), flat(batch_plan(10, 4, None, seed=1, epochs=3)))
    assert not np.array_equal(flat(plan), flat(batch_plan(10, 4, None, seed=2, epochs=3)))
    # with steps_per_epoch the passes run on across epochs: 3 epochs x 2 batches of 4 = 2.4 passes
    stream = flat(batch_plan(10, 4, 2, seed=1, epochs=3))
    assert len(stream) == 24 and sorted(stream[:10]) == sorted(stream[10:20]) == list(range(10))
    # planning more epochs does not change the first ones
    np.testing.assert_array_equal(flat(batch_plan(10, 4, 2, seed=1, epochs=5)[:3]), stream)


def test_a_checkpoint_from_other_settings_is_not_resumed(tmp_path, caches, caplog):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, caches, dict(TINY, epochs=3), extra_callbacks=[Preempt(1)])
    with caplog.at_level(logging.INFO):
        out, _ = run(tmp_path, caches, dict(TINY, epochs=3, learning_rate=5e-4))
    assert "from other settings" in caplog.text
    assert "epoch 1/3" in caplog.text


@pytest.mark.parametrize(
    "augmented", [pytest.param(False, marks=pytest.mark.slow), pytest.param(True, marks=pytest.mark.jax)]
)
def test_same_seed_gives_the_same_history(tmp_path, caches, augmented):
    settings = dict(TINY, epochs=2)
    if augmented:
        settings.update(augmentation=BOOK_AUGMENTATION, dropout=0.5, steps_per_epoch=6)
    _, first = run(tmp_path, caches, settings, tag="a")
    _, second = run(tmp_path, caches, settings, tag="b")
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in second]
    _, other = run(tmp_path, caches, dict(settings, seed=4), tag="c")
    assert other[0]["loss"] != first[0]["loss"]


def test_nan_loss_stops_with_the_epoch_named():
    guard = StopOnNaN("baseline")
    guard.on_epoch_end(0, {"loss": 0.5})
    with pytest.raises(TrainingError, match="NaN in epoch 3; lower experiments.baseline.learning_rate"):
        guard.on_epoch_end(2, {"loss": math.nan})


def test_cache_of_another_image_size_is_a_clear_error(tmp_path, caches):
    with pytest.raises(ConfigError, match="holds 46x46 images but experiments.tiny.image_size is"):
        run(tmp_path, caches, dict(TINY, image_size=[50, 50]))


def test_xla_stays_off_on_a_cpu_only_tensorflow():
    """XLA (jit_compile) measured 2.2x slower on CPU; Keras's "auto" leaves it off there, and on the
    JAX backend (always compiled) and TF GPUs it decides by itself. Nothing here may force it on."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the JAX backend always compiles with XLA")
    import tensorflow as tf

    from convnet.learn.model import model_from_settings
    from convnet.learn.compiling import compile_model

    if any(device.device_type != "CPU" for device in tf.config.list_physical_devices()):
        pytest.skip("an accelerator is visible: Keras may choose XLA there")
    model = compile_model(model_from_settings(TINY), TINY)
    assert model.jit_compile is False


@pytest.mark.jax
@pytest.mark.parametrize("gradient", [1e-5, 1e-4, 1e-2])
def test_rmsprop_epsilon_1e_16_takes_the_books_keras_2_0_8_step(gradient):
    """Keras 2.0.8 (the book) stepped lr*g/(sqrt(v) + 1e-8); Keras 3 steps lr*g/sqrt(v + epsilon).
    With epsilon 1e-16 the step is 2.0.8's (within 5%); Keras 3's own 1e-7 shrinks small ones."""
    from convnet.learn.model import model_from_settings
    from convnet.learn.compiling import compile_model

    def first_step(epsilon):
        settings = dict(TINY, learning_rate=1e-4)
        if epsilon is not None:
            settings["rmsprop_epsilon"] = epsilon
        optimizer = compile_model(model_from_settings(settings), settings).optimizer
        weight = keras.Variable(np.zeros(1, dtype="float32"))
        optimizer.apply_gradients([(np.full(1, gradient, dtype="float32"), weight)])
        return -float(keras.ops.convert_to_numpy(weight)[0])

    velocity = 0.1 * gradient**2  # rho 0.9, from zero
    keras_2 = 1e-4 * gradient / (math.sqrt(velocity) + 1e-8)
    assert first_step(1e-16) == pytest.approx(keras_2, rel=0.05)
    if gradient < 1e-3:
        assert first_step(1e-7) < 0.7 * keras_2
    assert first_step(None) == first_step(1e-7)  # not set: Keras 3's default


class RecordPrecision(keras.callbacks.Callback):
    """The dtype policies of the model being trained (its layers), once training starts."""

    def on_train_begin(self, logs=None):
        self.policies = {layer.dtype_policy.name for layer in self.model.layers if layer.weights}


@pytest.mark.jax
def test_precision_belongs_to_the_model_trained_and_the_saved_models_are_float32(tmp_path, caches):
    recorded = RecordPrecision()
    keras.config.set_dtype_policy("float64")  # a process policy that neither training nor export uses
    try:
        out, history = run(
            tmp_path, caches, dict(TINY, epochs=1, precision="mixed_bfloat16"), extra_callbacks=[recorded]
        )
        assert keras.config.dtype_policy().name == "float64"  # left as it was
    finally:
        keras.config.set_dtype_policy("float32")
    # the convolutions and the hidden dense layer compute in bfloat16, the head in float32
    assert recorded.policies == {"mixed_bfloat16", "float32"}
    for name in ("tiny.h5", "tiny_best.h5"):
        saved = keras.models.load_model(out / name, compile=False)
        assert {layer.dtype_policy.name for layer in saved.layers if layer.weights} == {"float32"}
    assert float(history[-1]["loss"]) > 0
