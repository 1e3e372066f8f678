"""The book's configuration gives what it gave before the workflow learned other photos (commit
8d7de58): the same manifest bytes and the same training history, on synthetic photos in both
layouts and on the shared 128px photos."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from conftest import REAL_DATA, ROOT, run_paths
from synthetic import image_files, write_zip

from convnet.arrays.cache import write_image_cache
from convnet.core.experiments import run_settings
from convnet.data.prepare import prepare_dataset
from convnet.learn.train import train_experiment

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SMALL_SPLIT = {"train": 16, "validation": 7, "test": 7}

# Recorded at 8d7de58 (tests and the recording script: the same calls as below).
MANIFEST_SHA256 = {
    "kaggle": "aa2158acaf49fb5e411c21e628c3e6eeff0b47cbe54502ca507189475805290e",
    "folders": "3fa82fba88d0309903c0c7a50b9b446c5964eff7fcc3bfcff2d361cffe92815a",
    "dogs-vs-cats-128px.zip": "85d6e8f7bfc398921ce75cf005573889a9a1847fa2473ea99b51f2bdf8d61720",
}
# loss, accuracy, val_loss, val_accuracy per epoch: the book's model at 150x150 in float32 (other
# CPUs round float32 sums differently, in the fifth digit or later: hence the tolerance)
HISTORY = {
    "baseline": [(0.66697, 0.65625, 0.54501, 1.0), (0.46448, 1.0, 0.31530, 1.0)],
    "augmented": [(0.66221, 0.6875, 0.65806, 0.5), (0.73621, 0.5625, 0.56539, 1.0)],
}


def book_data(**changes) -> dict:
    return dict(CONFIG["data"], layout="auto", **changes)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def kaggle_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    archive = write_zip(root / "kaggle.zip", image_files("kaggle", 30, size=40))
    prepare_dataset(archive, root / "data", book_data(split=SMALL_SPLIT))
    return root


@pytest.mark.parametrize("layout", ["kaggle", "folders"])
def test_the_books_config_gives_the_same_manifest_bytes(tmp_path, kaggle_split, layout):
    if layout == "kaggle":
        manifest = kaggle_split / "data" / "manifest.csv"
    else:
        archive = write_zip(tmp_path / "folders.zip", image_files("folders", 30, size=40))
        prepare_dataset(archive, tmp_path / "data", book_data(split=SMALL_SPLIT))
        manifest = tmp_path / "data" / "manifest.csv"
    assert sha256(manifest) == MANIFEST_SHA256[layout]


def test_the_books_config_gives_the_same_manifest_bytes_on_real_photos(tmp_path, real_data):
    prepare_dataset(real_data, tmp_path / "data", book_data(), threads=2)
    assert sha256(tmp_path / "data" / "manifest.csv") == MANIFEST_SHA256[REAL_DATA.name]


@pytest.mark.parametrize("experiment", ["baseline", "augmented"])
def test_the_books_experiments_give_the_same_history(tmp_path, kaggle_split, experiment):
    data = kaggle_split / "data"
    caches = {}
    for split in ("train", "validation"):
        caches[split] = tmp_path / f"{split}.npz"  # as the workflow's cache step writes it
        write_image_cache(
            caches[split],
            data,
            data / "manifest.csv",
            split,
            (150, 150),
            ["cats", "dogs"],
            interpolation="nearest",
        )
    settings = run_settings(CONFIG, experiment, 1)
    settings.update(
        precision="float32", epochs=2, batch_size=8, steps_per_epoch=2 if experiment == "augmented" else None
    )
    paths = run_paths((caches["train"], caches["validation"]), tmp_path)
    history = train_experiment(experiment, settings, paths, threads=2)
    got = [tuple(row[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")) for row in history]
    assert got == [pytest.approx(row, abs=2e-4) for row in HISTORY[experiment]]
