"""The report's landing page describes the run it was made from (convnet.core.about)."""

from __future__ import annotations

import json

from conftest import load_config

from convnet.core.about import write_landing_page
from convnet.core.files import atomic_write_table

BOOK = load_config()["data"]  # the workflow's defaults are the book's data
SUMMARY = ["layer", "type", "output_shape", "params", "trainable_params"]


def summaries(tmp_path, params: dict[str, int]):
    paths = {}
    for name, count in params.items():
        paths[name] = tmp_path / f"{name}_summary.tsv"
        rows = [["conv1", "Conv2D", "148x148x32", count - 10, count - 10], ["head", "Dense", "1", 10, 10]]
        atomic_write_table(paths[name], SUMMARY, rows, delimiter="\t")
    return paths


def provenance(tmp_path, images: dict) -> object:
    path = tmp_path / "provenance.json"
    classes = sorted(next(iter(images.values())))
    path.write_text(
        json.dumps({"source": "local", "path": "/data/photos.zip", "classes": classes, "images": images})
    )
    return path


def test_the_books_run_names_the_books_figures(tmp_path):
    config = load_config()
    images = {
        split: {"cats": n, "dogs": n} for split, n in (("train", 1000), ("validation", 500), ("test", 500))
    }
    page = tmp_path / "workflow.rst"
    assert write_landing_page(
        config,
        BOOK,
        provenance(tmp_path, images),
        summaries(tmp_path, {"baseline": 3453121, "augmented": 3453121}),
        page,
    )
    text = page.read_text()
    assert (
        "Convnets trained on ``photos.zip``: 2 classes (cats, dogs), 2,000 training, 1,000 validation" in text
    )
    assert (
        "- **baseline**: 3,453,121 parameters, 150x150 images, 30 epochs of 2,000 images (batch 20), seed 1."
        in text
    )
    assert (
        "- **augmented**: 3,453,121 parameters, 150x150 images, 100 epochs of 3,200 images (batch 32)" in text
    )
    assert "The book reports" in text


def test_own_photos_get_their_own_classes_and_counts_and_no_book_figures(tmp_path):
    config = load_config("own-photos")
    images = {
        "train": {"glass": 70, "paper": 140, "trash": 14},
        "validation": {"glass": 15, "paper": 30, "trash": 3},
        "test": {"glass": 15, "paper": 30, "trash": 3},
    }
    page = tmp_path / "workflow.rst"
    write_landing_page(
        config, BOOK, provenance(tmp_path, images), summaries(tmp_path, {"baseline": 9, "augmented": 9}), page
    )
    text = page.read_text()
    assert "3 classes (glass, paper, trash), 224 training, 48 validation and 48 test images" in text
    assert (
        "Per class (training / validation / test): glass 70 / 15 / 15; paper 140 / 30 / 30; trash 14 / 3 / 3."
        in text
    )
    assert "book" not in text and "one sigmoid unit" not in text


def test_no_page_before_the_data_are_split_and_the_models_checked(tmp_path):
    page = tmp_path / "workflow.rst"
    assert not write_landing_page(load_config(), BOOK, tmp_path / "provenance.json", {}, page)
    assert not page.exists()
