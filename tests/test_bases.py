"""Today's pretrained bases (config/bases.yaml): EfficientNetV2-B0 and ConvNeXt-Tiny with the book's
two steps, features on the frozen base then the top of the base trained too. ImageNet weights cannot
be downloaded here: the tests make weights files from randomly initialised bases in Keras's
published layout (as tests/test_pretrained.py does for VGG16), so loading, freezing, batch
normalization, resume and the Snakemake chain are tested for real, the accuracy is not."""

from __future__ import annotations

import hashlib

import h5py
import keras
import numpy as np
import pytest
from conftest import copy_tiny_workflow, load_config, run_paths
from synthetic import image_files, write_zip
from test_pretrained import TINY_BASE, write_caches48
from test_train import Preempt, assert_same_run
from test_workflow_data import snakemake

from convnet.core.errors import ConfigError
from convnet.core.experiments import experiment_names, experiment_settings, model_settings
from convnet.learn import model as model_module
from convnet.learn.model import PRETRAINED_BASES, documented_base_check
from convnet.learn.summary import write_model_summary
from convnet.learn.train import train_experiment

CONFIG = load_config("bases")
PAIRS = {
    "efficientnetv2b0": "block6a_expand_conv",
    "convnext_tiny": "convnext_tiny_stage_3_block_0_depthwise_conv",
}


def test_the_overlay_adds_a_features_and_a_fine_tuning_experiment_per_base():
    assert experiment_names(CONFIG)[2:] == [
        f"{base}_{step}" for base in PAIRS for step in ("features", "finetune")
    ]
    for base, layer in PAIRS.items():
        features = experiment_settings(CONFIG, f"{base}_features")
        tune = experiment_settings(CONFIG, f"{base}_finetune")
        assert features["base"] == {"name": base, "trainable_from": None}
        assert tune["base"] == {"name": base, "trainable_from": layer}
        assert tune["init_from"] == f"{base}_features" and tune["learning_rate"] < features["learning_rate"]
        assert features["image_size"] == tune["image_size"] == [224, 224]
        assert CONFIG["pretrained"]["weights"][base]["url"].endswith("_notop.h5")


@pytest.mark.parametrize("name", [f"{b}_{s}" for b in PAIRS for s in ("features", "finetune")])
def test_the_model_check_passes_with_the_counts_keras_documents(tmp_path, name):
    rows = write_model_summary(name, model_settings(CONFIG, name), tmp_path / "s.txt", tmp_path / "s.tsv")
    base = experiment_settings(CONFIG, name)["base"]["name"]
    functional = [row for row in rows if row["type"] == "Functional"]
    assert [row["params"] for row in functional] == [
        experiment_settings(CONFIG, name)["expect"]["base_params"]
    ]
    text = (tmp_path / "s.txt").read_text()
    assert f"{base} with its ImageNet top:" in text and "Keras documents" in text
    # no rescaling of the book's in front: each base preprocesses the pixels itself
    assert "Rescaling" not in [row["type"] for row in rows]


def test_the_documented_count_is_checked(monkeypatch):
    assert documented_base_check("efficientnetv2b0").startswith(
        "efficientnetv2b0 with its ImageNet top: 7,200,312"
    )
    spec = PRETRAINED_BASES["efficientnetv2b0"]
    monkeypatch.setitem(
        PRETRAINED_BASES,
        "efficientnetv2b0",
        spec.__class__(**{**spec.__dict__, "documented_params_millions": 7.1}),
    )
    with pytest.raises(
        ConfigError,
        match="this Keras builds 7,200,312 parameters with the ImageNet top, Keras documents 7.1M",
    ):
        documented_base_check("efficientnetv2b0")


def test_the_schema_lists_the_bases_the_model_knows():
    import yaml
    from conftest import ROOT

    schema = yaml.safe_load((ROOT / "config/config.schema.yaml").read_text())
    enum = schema["$defs"]["experiment"]["properties"]["base"]["anyOf"][1]["properties"]["name"]["enum"]
    assert enum == list(PRETRAINED_BASES)
    assert set(load_config()["pretrained"]["weights"]) == set(PRETRAINED_BASES)


def published_layout(base: keras.Model, path) -> None:
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, base)


@pytest.fixture(scope="session")
def efficientnet_weights(tmp_path_factory):
    """An EfficientNetV2-B0 base (no top) with random weights and batch statistics that are not
    the initial 0 and 1, saved as Keras publishes its ImageNet file."""
    path = tmp_path_factory.mktemp("weights") / "efficientnetv2-b0_notop.h5"
    keras.utils.set_random_seed(0)
    base = keras.applications.EfficientNetV2B0(include_top=False, weights=None, input_shape=(48, 48, 3))
    rng = np.random.default_rng(0)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [gamma, beta, rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2, variance.shape)]
            )
    published_layout(base, path)
    return path


@pytest.fixture
def caches48(tmp_path):
    return write_caches48(tmp_path)


TINY_EFFICIENTNET = dict(TINY_BASE, base={"name": "efficientnetv2b0", "trainable_from": None}, dense_units=0)


def trained(tmp_path, caches, settings, tag, extra_callbacks=None, **paths):
    out = tmp_path / tag
    train_experiment(
        "bases", settings, run_paths(caches, out, **paths), threads=2, extra_callbacks=extra_callbacks
    )
    return out


def base_layers(model_path) -> dict[str, list[np.ndarray]]:
    base = keras.models.load_model(model_path, compile=False).get_layer("efficientnetv2-b0")
    return {layer.name: layer.get_weights() for layer in base.layers if layer.get_weights()}


@pytest.mark.slow
def test_fine_tuning_keeps_batch_normalization_frozen_and_resumes_to_the_same_history(
    tmp_path, caches48, efficientnet_weights
):
    """The top of the base trains; its batch normalization keeps the published statistics and
    scales (and the base, called in inference mode, computes with them); and a run interrupted
    after its first epoch ends as the uninterrupted one."""
    settings = dict(
        TINY_EFFICIENTNET,
        epochs=2,
        base={"name": "efficientnetv2b0", "trainable_from": "block6a_expand_conv"},
    )
    straight = trained(tmp_path, caches48, settings, "straight", base_weights=efficientnet_weights)
    published = keras.applications.EfficientNetV2B0(
        include_top=False, weights=str(efficientnet_weights), input_shape=(48, 48, 3)
    )
    before = {layer.name: layer.get_weights() for layer in published.layers if layer.get_weights()}
    after = base_layers(straight / "m.h5")
    changed = {
        name for name in before if not all(np.array_equal(a, b) for a, b in zip(before[name], after[name]))
    }
    norms = {name for name in before if "_bn" in name}
    assert changed, "the top of the base must train"
    assert all(name.startswith(("block6", "top_conv")) for name in changed), changed
    assert not changed & norms, f"batch normalization changed: {sorted(changed & norms)}"

    with pytest.raises(KeyboardInterrupt):
        trained(
            tmp_path,
            caches48,
            settings,
            "resumed",
            base_weights=efficientnet_weights,
            extra_callbacks=[Preempt(1)],
        )
    resumed = trained(tmp_path, caches48, settings, "resumed", base_weights=efficientnet_weights)
    assert_same_run(straight, resumed, stem="m")


@pytest.mark.slow
def test_the_pair_through_snakemake_fetches_the_weights_once_and_chains(tmp_path, efficientnet_weights):
    """The overlay's pair for EfficientNetV2-B0 as a user runs it: the weights come from a file://
    URL checked against their md5 (a local job), and fine-tuning waits for the features model.
    Training on a base through Snakemake: the VGG16 chain in tests/test_pretrained.py."""
    copy_tiny_workflow(tmp_path)
    write_zip(tmp_path / "pets.zip", image_files("kaggle", 30))
    digest = hashlib.md5(efficientnet_weights.read_bytes(), usedforsecurity=False).hexdigest()
    tiny = "{epochs: 1, steps_per_epoch: 2, batch_size: 4, image_size: [48, 48], expect: null}"
    config = [
        "--configfile",
        "tests/tiny-config.yaml",
        "config/bases.yaml",
        "--config",
        "data={path: pets.zip}",
        f"pretrained={{weights: {{efficientnetv2b0: {{url: 'file://{efficientnet_weights}', md5: {digest}}}}}}}",
        f"experiments={{efficientnetv2b0_features: {tiny}, efficientnetv2b0_finetune: {tiny}}}",
    ]
    plan = snakemake(tmp_path, "-n", "results/models/efficientnetv2b0_finetune/seed1.h5", *config).stdout
    assert "experiment=efficientnetv2b0_features" in plan and "download_weights" in plan
    snakemake(tmp_path, "results/weights/efficientnetv2b0.h5", *config)
    results = tmp_path / "results"
    assert (results / "weights/efficientnetv2b0.h5").read_bytes() == efficientnet_weights.read_bytes()
    assert [p.name for p in (results / "weights").iterdir()] == ["efficientnetv2b0.h5"]  # only what is used


@pytest.mark.slow
def test_a_model_on_a_base_exports_with_the_bases_preprocessing_inside(tmp_path, efficientnet_weights):
    """EfficientNetV2's preprocessing holds constants that Keras 3.15's own ONNX export turned into
    graph inputs; the export converts the SavedModel instead, and every format gives Keras's
    probabilities."""
    from convnet.learn.export import export_run

    settings = model_module.ModelSettings.of(dict(TINY_EFFICIENTNET, num_classes=2))
    model_module.model_from_settings(settings, "tiny", base_weights=str(efficientnet_weights)).save(
        tmp_path / "m.keras"
    )
    images = np.random.default_rng(2).integers(0, 256, (6, 48, 48, 3)).astype("uint8")
    result = export_run(tmp_path / "m.keras", images, tmp_path / "exports", tmp_path / "exports/check.json")
    assert max(result["max_abs_difference"].values()) <= 1e-4


def test_a_base_too_small_for_the_images_is_refused_naming_the_key():
    settings = model_module.ModelSettings.of(dict(TINY_EFFICIENTNET, image_size=[24, 24], num_classes=2))
    with pytest.raises(
        ConfigError, match=r"experiments.tiny.image_size \[24, 24\] is too small for efficientnetv2b0"
    ):
        model_module.model_from_settings(settings, "tiny")
