"""Models to take away: every run saves a native .keras beside its .h5 files (the run card inside),
the export writes a SavedModel, an ONNX and a LiteRT model whose outputs equal the Keras model's
within 1e-4 on a tiny run's test images, and python -m convnet.predict classifies photos with a
.keras or an .onnx model as it does with the .h5."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest
from conftest import run_paths
from synthetic import image_files, write_zip
from test_train import TINY, synthetic_set, write_caches

from convnet.arrays.cache import save_image_set
from convnet.core.errors import DataError
from convnet.core.runcard import RunCard
from convnet.learn.export import EXPORT_FORMATS, EXPORT_TOLERANCE, export_differences, export_run
from convnet.learn.train import train_experiment

pytest.importorskip("onnxruntime", reason="the export's packages: requirements-export.txt")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny run with its run card, and a test split of its own."""
    folder = tmp_path_factory.mktemp("export")
    caches = write_caches(folder)
    save_image_set(folder / "test.npz", synthetic_set(24, 7))
    out = folder / "run"
    train_experiment("tiny", dict(TINY, epochs=2), run_paths(caches, out, "tiny", run_card=out / "tiny.json"))
    return folder, out


def test_every_run_saves_a_native_keras_model_beside_the_h5_with_the_same_weights_and_card(tiny_run):
    _, out = tiny_run
    for stem in ("tiny", "tiny_best"):
        h5 = keras.models.load_model(out / f"{stem}.h5", compile=False)
        native = keras.models.load_model(out / f"{stem}.keras", compile=False)
        for a, b in zip(h5.get_weights(), native.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert all(w.dtype == np.float32 for w in native.get_weights())
        assert RunCard.read(out / f"{stem}.keras") == RunCard.read(out / f"{stem}.h5")
    assert RunCard.read(out / "tiny_best.keras").checkpoint == "best"


def test_the_exports_give_the_keras_models_probabilities_on_the_test_images(tiny_run):
    from convnet.arrays.cache import load_image_set

    folder, out = tiny_run
    test = load_image_set(folder / "test.npz")
    exports = folder / "exports"
    result = export_run(out / "tiny.keras", test.images[:], exports, exports / "check.json")
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        [*EXPORT_FORMATS, "run_card.json", "check.json"]
    )
    assert result["images"] == 24 and set(result["max_abs_difference"]) == set(EXPORT_FORMATS)
    assert all(d <= EXPORT_TOLERANCE for d in result["max_abs_difference"].values())
    assert json.loads((exports / "check.json").read_text()) == result
    # the check itself can fail: another model's exports differ by far more than the tolerance
    other = keras.models.load_model(out / "tiny.keras", compile=False)
    other.set_weights([w + 0.5 for w in other.get_weights()])
    assert min(export_differences(other, exports, test.images[:]).values()) > 100 * EXPORT_TOLERANCE


def test_a_failed_check_names_the_format_and_leaves_no_check_file(tiny_run, monkeypatch):
    from convnet.learn import export

    folder, out = tiny_run
    monkeypatch.setattr(export, "EXPORT_TOLERANCE", 0.0)
    monkeypatch.setattr(
        export,
        "export_differences",
        lambda *args: {"saved_model": 0.0, "model.onnx": 3e-3, "model.tflite": 0.0},
    )
    target = folder / "failing"
    with pytest.raises(DataError, match=r"failing/model.onnx: gives probabilities up to 0.003 away"):
        export.export_run(
            out / "tiny.keras", np.zeros((2, 46, 46, 3), "uint8"), target, target / "check.json"
        )
    assert not (target / "check.json").exists()


@pytest.fixture(scope="module")
def photos(tiny_run):
    folder, _ = tiny_run
    files = image_files("kaggle", 3, faults=False, size=60)
    return write_zip(folder / "photos.zip", {**files, "notes.txt": b"not an image"})


@pytest.mark.parametrize("model", ["tiny.keras", "exports/model.onnx"])
def test_predict_classifies_photos_with_a_keras_or_onnx_model_as_with_the_h5(tiny_run, photos, model):
    from convnet.predict import main

    folder, out = tiny_run
    if not (folder / "exports" / "model.onnx").exists():
        export_run(
            out / "tiny.keras",
            np.zeros((2, 46, 46, 3), "uint8"),
            folder / "exports",
            folder / "exports/c.json",
        )
    path = out / model if model.endswith(".keras") else folder / model
    assert main([str(out / "tiny.h5"), str(photos), "--out", str(folder / "h5.csv")]) == 0
    assert (
        main([str(path), str(photos), "--out", str(folder / "other.csv"), "--sheet", str(folder / "s.png")])
        == 0
    )
    with open(folder / "h5.csv", newline="") as a, open(folder / "other.csv", newline="") as b:
        expected, got = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["file"] for r in got] == [r["file"] for r in expected] and len(got) == 7
    assert [r["predicted"] for r in got] == [r["predicted"] for r in expected]
    unreadable = [r for r in got if r["file"] == "notes.txt"]
    assert unreadable[0]["reason"] and not unreadable[0]["predicted"]
    for r, e in zip(got, expected):
        if e["predicted"]:
            assert float(r["probability_dogs"]) == pytest.approx(float(e["probability_dogs"]), abs=1e-4)
    assert (folder / "s.png").stat().st_size > 0


def test_an_onnx_model_without_a_run_card_is_refused_naming_it(tiny_run, tmp_path):
    from convnet.learn.predict import settings_from_card

    folder, out = tiny_run
    model = keras.models.load_model(out / "tiny.keras", compile=False)
    model(np.zeros((1, 46, 46, 3), "float32"))
    model.export(str(tmp_path / "bare.onnx"), format="onnx", verbose=False)
    with pytest.raises(DataError, match="bare.onnx: holds no run card"):
        settings_from_card(tmp_path / "bare.onnx")
