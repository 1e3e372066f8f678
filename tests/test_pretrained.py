"""The book's section 5.3 as config: a VGG16 base (frozen, or fine-tuned from block5), its weights
fetched like data, and predictions on new photos. The real ImageNet weights cannot be downloaded
here, so the tests make a weights file from a randomly initialised VGG16 in Keras's published
layout: loading, freezing, fine-tuning, resume and evaluation are all tested for real, the
accuracy of the real experiments is not."""

from __future__ import annotations

import copy
import csv
import hashlib
import http.server

import h5py
import keras
import numpy as np
import pytest
from conftest import copy_tiny_workflow, http_server, load_config, run_paths
from synthetic import image_files, jpeg_bytes, write_zip
from test_train import Preempt, assert_same_run, caches, read_history, synthetic_set  # noqa: F401  (fixture)
from test_workflow_data import snakemake

from convnet.core.errors import ConfigError
from convnet.core.experiments import check_experiments, experiment_names, experiment_settings
from convnet.learn.summary import write_model_summary
from convnet.learn.train import train_experiment

CONFIG = load_config()
ENABLED = load_config("pretrained")


@pytest.fixture(scope="session")
def vgg16_weights(tmp_path_factory):
    """A VGG16 base (no top) with random weights, saved as Keras publishes its ImageNet file."""
    from keras.src.legacy.saving import legacy_h5_format

    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    keras.utils.set_random_seed(0)  # the same random base on every machine
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(48, 48, 3))
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, base)
    return path


def test_the_pretrained_experiments_are_off_by_default_and_one_switch_adds_them():
    assert experiment_names(CONFIG) == ["baseline", "augmented"]
    assert experiment_names(ENABLED) == [
        "baseline",
        "augmented",
        "vgg16_fast",
        "vgg16_features",
        "vgg16_finetune",
    ]
    check_experiments(ENABLED)
    finetune = experiment_settings(ENABLED, "vgg16_finetune")
    assert finetune["base"] == {"name": "vgg16", "trainable_from": "block5_conv1"}
    assert finetune["init_from"] == "vgg16_features" and finetune["learning_rate"] == 1e-5
    assert finetune["epochs"] == 100 and finetune["augmentation"]["shear_radians"] == 0.2


@pytest.mark.parametrize(
    "name, trainable",
    [("vgg16_fast", 2_097_665), ("vgg16_features", 2_097_665), ("vgg16_finetune", 9_177_089)],
)
def test_the_model_check_knows_the_books_numbers(tmp_path, name, trainable):
    """The book prints 14,714,688 parameters for the conv base, 16,812,353 for the whole model,
    2,097,665 trainable after freezing the base, and block5 adds 7,079,424 when fine-tuning."""
    rows = write_model_summary(
        name, experiment_settings(ENABLED, name), tmp_path / "s.txt", tmp_path / "s.tsv"
    )
    assert sum(row["params"] for row in rows) == 16_812_353
    assert sum(row["trainable_params"] for row in rows) == trainable
    assert [row["params"] for row in rows if row["layer"] == "vgg16"] == [14_714_688]
    assert "vgg16\tFunctional\t4x4x512\t14714688" in (tmp_path / "s.tsv").read_text()


def test_a_changed_base_fails_the_check_and_bad_settings_are_one_line(tmp_path):
    config = copy.deepcopy(ENABLED)
    config["experiments"]["vgg16_finetune"]["base"]["trainable_from"] = "block4_conv1"
    with pytest.raises(
        ConfigError, match="trainable parameters but experiments.vgg16_finetune.expect.trainable_params"
    ):
        write_model_summary(
            "vgg16_finetune",
            experiment_settings(config, "vgg16_finetune"),
            tmp_path / "s.txt",
            tmp_path / "s.tsv",
        )
    config["experiments"]["vgg16_finetune"]["base"]["trainable_from"] = "block9_conv1"
    with pytest.raises(ConfigError, match="'block9_conv1' is not a layer of vgg16: use one of block1_conv1"):
        write_model_summary(
            "vgg16_finetune",
            experiment_settings(config, "vgg16_finetune"),
            tmp_path / "s.txt",
            tmp_path / "s.tsv",
        )
    lonely = copy.deepcopy(CONFIG)
    lonely["experiments"]["tune"] = {"base": {"name": "vgg16"}, "init_from": "vgg16_features"}
    with pytest.raises(
        ConfigError, match="init_from is 'vgg16_features', which is not an experiment .config/pretrained.yaml"
    ):
        check_experiments(lonely)
    seeds = copy.deepcopy(ENABLED)
    seeds["experiments"]["vgg16_finetune"]["seeds"] = [1, 2]
    with pytest.raises(ConfigError, match=r"has no run for seed\(s\) \[2\]"):
        check_experiments(seeds)


TINY_BASE = {
    "image_size": [48, 48],
    "base": {"name": "vgg16", "trainable_from": None},
    "conv_filters": [32],
    "dense_units": 8,
    "dropout": 0.0,
    "augmentation": None,
    "learning_rate": 1e-3,
    "batch_size": 8,
    "epochs": 2,
    "steps_per_epoch": None,
    "seed": 3,
    "precision": "float32",
    "expect": None,
    "resize_interpolation": "nearest",
    "rmsprop_epsilon": 1e-7,
    "class_weight": None,
    "init_from": None,
}


def write_caches48(tmp_path):
    """A training and a validation cache of 48x48 synthetic images, the classes apart by hue."""
    from convnet.arrays.cache import ImageSet, save_image_set

    rng = np.random.default_rng(0)
    paths = []
    for name, count in (("train", 32), ("validation", 16)):
        labels = (np.arange(count) % 2).astype(np.float32)
        images = rng.integers(0, 80, (count, 48, 48, 3)).astype(np.uint8)
        images[labels == 1, :, :, 2] += 120
        path = tmp_path / f"{name}.npz"
        save_image_set(
            path, ImageSet(images, labels, np.array([f"f{i}.jpg" for i in range(count)]), ("cats", "dogs"))
        )
        paths.append(path)
    return paths


@pytest.fixture
def caches48(tmp_path):
    return write_caches48(tmp_path)


def train(tmp_path, caches48, settings, tag, extra_callbacks=None, **paths):
    out = tmp_path / tag
    train_experiment(
        "vgg",
        settings,
        run_paths(caches48, out, **paths),
        threads=2,
        extra_callbacks=extra_callbacks,
    )
    return out


def base_weights(model_path):
    model = keras.models.load_model(model_path, compile=False)
    base = model.get_layer("vgg16")
    return {layer.name: layer.get_weights() for layer in base.layers if layer.get_weights()}


@pytest.mark.slow
def test_a_frozen_base_keeps_its_weights_and_fine_tuning_trains_only_block5(
    tmp_path, caches48, vgg16_weights
):
    loaded = keras.applications.VGG16(include_top=False, weights=str(vgg16_weights), input_shape=(48, 48, 3))
    published = {layer.name: layer.get_weights() for layer in loaded.layers if layer.get_weights()}

    frozen = train(tmp_path, caches48, TINY_BASE, "features", base_weights=vgg16_weights)
    after = base_weights(frozen / "m.h5")
    for name, weights in published.items():
        for a, b in zip(weights, after[name]):
            np.testing.assert_array_equal(a, b)

    tune = dict(TINY_BASE, base={"name": "vgg16", "trainable_from": "block5_conv1"}, init_from="features")
    tuned = train(
        tmp_path, caches48, tune, "finetune", base_weights=vgg16_weights, init_model=frozen / "m.h5"
    )
    tuned_weights = base_weights(tuned / "m.h5")
    changed = {
        name
        for name in published
        if not all(np.array_equal(a, b) for a, b in zip(after[name], tuned_weights[name]))
    }
    # Only block5 may change; with random (not ImageNet) weights a block5 layer whose ReLUs are all
    # dead on this tiny data gets no gradient, so the block as a whole must have trained.
    assert changed and all(name.startswith("block5") for name in changed), changed
    head = keras.models.load_model(frozen / "m.h5", compile=False).get_layer("dense").get_weights()[0]
    assert not np.array_equal(
        head, keras.models.load_model(tuned / "m.h5").get_layer("dense").get_weights()[0]
    )


@pytest.mark.slow
def test_a_pretrained_run_resumes_as_if_never_interrupted(tmp_path, caches48, vgg16_weights):
    settings = dict(TINY_BASE, epochs=3, base={"name": "vgg16", "trainable_from": "block5_conv1"})
    straight = train(tmp_path, caches48, settings, "straight", base_weights=vgg16_weights)
    with pytest.raises(KeyboardInterrupt):
        train(
            tmp_path, caches48, settings, "resumed", base_weights=vgg16_weights, extra_callbacks=[Preempt(1)]
        )
    resumed = train(tmp_path, caches48, settings, "resumed", base_weights=vgg16_weights)
    assert_same_run(straight, resumed, stem="m")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(vgg16_weights):
    with http_server(lambda *a, **k: _Quiet(*a, directory=str(vgg16_weights.parent), **k)) as base:
        yield f"{base}/{vgg16_weights.name}"


def md5(path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.mark.slow
def test_the_weights_download_rule_verifies_the_published_hash_and_fails_in_one_line(
    tmp_path, vgg16_weights, weights_server
):
    copy_tiny_workflow(tmp_path)
    target = "results/weights/vgg16.h5"
    good = f"pretrained={{weights: {{vgg16: {{url: '{weights_server}', md5: {md5(vgg16_weights)}}}}}}}"
    snakemake(tmp_path, target, "--config", good)
    assert (tmp_path / target).read_bytes() == vgg16_weights.read_bytes()

    (tmp_path / target).unlink()
    wrong = good.replace(md5(vgg16_weights), "0" * 32)
    proc = snakemake(tmp_path, target, "--config", wrong, check=False)
    assert proc.returncode != 0 and not (tmp_path / target).exists()
    log = (tmp_path / "results/logs/download_weights/vgg16.log").read_text()
    assert f"md5 is {md5(vgg16_weights)}, but pretrained.weights.vgg16.md5 pins {'0' * 32}" in log

    offline = "pretrained={weights: {vgg16: {url: 'http://127.0.0.1:9/vgg16.h5'}}}"
    proc = snakemake(tmp_path, target, "--config", offline, "data={download: {retries: 0}}", check=False)
    assert proc.returncode != 0 and not (tmp_path / target).exists()
    error = [
        line
        for line in (tmp_path / "results/logs/download_weights/vgg16.log").read_text().splitlines()
        if "ERROR" in line
    ]
    assert len(error) == 1 and "download of http://127.0.0.1:9/vgg16.h5 failed after 1 attempts" in error[0]
    assert "set pretrained.weights.vgg16.url to its file:// URL" in error[0]


@pytest.mark.slow
def test_features_then_fine_tuning_then_predictions_through_snakemake(
    tmp_path, vgg16_weights, weights_server
):
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    photos = tmp_path / "my-photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"holiday{i}.jpg").write_bytes(jpeg_bytes(50 + i, size=80, kind="dog"))
    (photos / "notes.txt").write_text("not a photo")
    (photos / "broken.jpg").write_bytes(jpeg_bytes(9)[:100])
    tiny = "{epochs: 1, steps_per_epoch: 2, batch_size: 4, expect: null}"
    config = [
        "--configfile",
        "tests/tiny-config.yaml",
        "config/pretrained.yaml",
        "--config",
        "data={path: pets.zip}",
        f"pretrained={{weights: {{vgg16: {{url: '{weights_server}', md5: {md5(vgg16_weights)}}}}}}}",
        f"experiments={{vgg16_fast: {tiny}, vgg16_features: {tiny}, vgg16_finetune: {tiny}}}",
        "experiment_defaults={image_size: [48, 48]}",
        "predict={holiday: my-photos}",
    ]
    plan = snakemake(tmp_path, "-n", "results/metrics/vgg16_finetune/seed1.json", *config).stdout
    assert "download_weights" in plan and "experiment=vgg16_features" in plan  # fine-tuning needs it
    # the test table waits for every experiment's evaluation, the book's and the pretrained ones
    plan = snakemake(tmp_path, "-n", "results/metrics/test_metrics.csv", *config).stdout
    for name in ("vgg16_fast", "vgg16_features", "vgg16_finetune", "baseline", "augmented"):
        assert f"experiment={name}" in plan, name
    # the pretrained experiments' own evaluations, and predictions by the last of them (the
    # predict rule is one for every experiment; the book's two run through the same rules in
    # test_workflow_e2e, predictions included)
    names = ("vgg16_fast", "vgg16_features", "vgg16_finetune")
    targets = [f"results/metrics/{name}/seed1.json" for name in names]
    snakemake(tmp_path, *targets, "results/predictions/vgg16_finetune/seed1/holiday.png", *config)
    results = tmp_path / "results"
    for name in names:
        assert (results / "metrics" / name / "seed1.json").is_file(), name
    assert (results / "predictions" / "vgg16_finetune" / "seed1" / "holiday.png").stat().st_size > 10_000
    train_log = (results / "logs" / "train" / "vgg16_finetune" / "seed1.log").read_text()
    assert "starting from results/models/vgg16_features/seed1.h5" in train_log
    with open(results / "predictions" / "vgg16_finetune" / "seed1" / "holiday.csv", newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"holiday0.jpg", "holiday1.jpg", "holiday2.jpg", "notes.txt", "broken.jpg"}
    for i in range(3):
        row = rows[f"holiday{i}.jpg"]
        assert row["predicted"] in ("cats", "dogs") and row["reason"] == ""
        assert float(row["probability_cats"]) + float(row["probability_dogs"]) == pytest.approx(1, abs=1e-5)
    assert rows["notes.txt"]["reason"] == "not an image file name" and rows["notes.txt"]["predicted"] == ""
    assert rows["broken.jpg"]["reason"].startswith("not decodable")


def test_the_predict_command_reads_size_and_classes_from_the_run_card(tmp_path, caches):  # noqa: F811
    from convnet.predict import main as predict_main
    from test_train import TINY

    model_dir = tmp_path / "run"
    train_experiment(
        "tiny",
        TINY,
        run_paths(caches, model_dir, run_card=model_dir / "m.json"),
        threads=2,
    )
    archive = write_zip(
        tmp_path / "new.zip", {"a/dog.jpg": jpeg_bytes(1, size=120, kind="dog"), "a/x.png": b"no"}
    )
    out, sheet = tmp_path / "p.csv", tmp_path / "p.png"
    assert (
        predict_main([str(model_dir / "m.h5"), str(archive), "--out", str(out), "--sheet", str(sheet)]) == 0
    )
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "probability_cats", "probability_dogs", "predicted", "reason"]
    assert rows[0]["file"] == "a/dog.jpg" and rows[0]["predicted"] in ("cats", "dogs")
    assert rows[1]["reason"] == "not an image" and sheet.stat().st_size > 5_000
    assert predict_main([str(model_dir / "m.h5"), str(tmp_path / "nowhere")]) == 2
