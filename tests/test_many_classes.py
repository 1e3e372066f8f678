"""More than two classes, unequal: the softmax head trains, resumes identically, evaluates with
k-class metrics, predicts and plots; the model check derives its counts from the book's."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest
from conftest import run_paths
from synthetic import class_image, encode
from test_train import TINY, Preempt, read_history

from convnet.arrays.cache import ImageSet, save_image_set
from convnet.core.errors import ConfigError
from convnet.learn.evaluate import evaluate_experiment
from convnet.arrays.metrics import class_probabilities, classification_metrics
from convnet.learn.model import check_summary, model_from_settings, summary_rows
from convnet.learn.predict import predict_photos
from convnet.core.settings import ModelSettings
from convnet.learn.train import train_experiment

SIZE = TINY["image_size"][0]


def class_set(counts: list[int], seed: int, classes: tuple[str, ...]) -> ImageSet:
    """Unequal classes of one hue each (synthetic.class_image)."""
    labels = np.concatenate([np.full(n, index, np.float32) for index, n in enumerate(counts)])
    images = np.stack([class_image(seed * 10_000 + i, int(label), SIZE) for i, label in enumerate(labels)])
    files = np.array([f"{classes[int(label)]}/{i}.jpg" for i, label in enumerate(labels)])
    return ImageSet(images, labels, files, classes)


@pytest.fixture(
    params=[pytest.param(3, marks=pytest.mark.jax), pytest.param(5, marks=pytest.mark.slow)],
    ids=["3 classes", "5 classes"],
)
def many(request, tmp_path):
    k = request.param
    classes = ("alpha", "beta", "gamma", "delta", "epsilon")[:k]
    counts = [24, 12, 6, 9, 15][:k]
    paths = {}
    for split, seed, scale in (("train", 1, 1), ("validation", 2, 0.5), ("test", 3, 0.5)):
        paths[split] = tmp_path / f"{split}.npz"
        save_image_set(paths[split], class_set([max(2, int(n * scale)) for n in counts], seed, classes))
    return k, classes, paths


def train(tmp_path, paths, settings, tag, extra_callbacks=None):
    out = tmp_path / tag
    train_experiment(
        "many",
        settings,
        run_paths((paths["train"], paths["validation"]), out, run_card=out / "m.json"),
        threads=2,
        extra_callbacks=extra_callbacks,
    )
    return out


def test_k_classes_train_resume_identically_evaluate_predict_and_plot(tmp_path, many):
    from convnet.report import plots

    k, classes, paths = many
    settings = dict(TINY, epochs=3, dropout=0.5, steps_per_epoch=4, class_weight="balanced")
    straight = train(tmp_path, paths, settings, "straight")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, paths, settings, "resumed", extra_callbacks=[Preempt(2)])
    resumed = train(tmp_path, paths, settings, "resumed")

    def without_seconds(path):
        return [{key: v for key, v in row.items() if key != "seconds"} for row in read_history(path)]

    assert without_seconds(resumed / "m.csv") == without_seconds(straight / "m.csv")
    a, b = (keras.models.load_model(folder / "m.h5") for folder in (straight, resumed))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert a.output_shape == (None, k) and a.layers[-1].activation.__name__ == "softmax"
    card = json.loads((straight / "m.json").read_text())
    assert card["data"]["classes"] == list(classes)
    assert len(card["data"]["class_weights"]) == k and card["settings"]["class_weight"] == "balanced"
    assert card["settings"]["num_classes"] == k

    metrics = evaluate_experiment(
        "many",
        1,
        {"last": straight / "m.h5", "best": straight / "m_best.h5"},
        paths["test"],
        tmp_path / "metrics.json",
        tmp_path / "predictions.csv",
    )
    last = metrics["last"]
    assert metrics["classes"] == list(classes) and metrics["positive_class"] is None
    assert np.array(last["confusion_matrix"]).shape == (k, k)
    assert sum(map(sum, last["confusion_matrix"])) == last["images"]
    assert last["precision"] is None and 0 <= last["balanced_accuracy"] <= 1
    assert set(last["per_class"]) == set(classes)
    with open(tmp_path / "predictions.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["file", "label", f"probability_last_{classes[0]}"] and len(header) == 2 + 2 * k

    for figure, name in (
        (plots.confusion_figure(metrics), "confusion.png"),
        (plots.per_class_figure(metrics), "per_class.png"),
    ):
        plots.save_figure(figure, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    photos = tmp_path / "new"
    (photos / "sub").mkdir(parents=True)
    for index in range(k):
        (photos / f"photo {index}.png").write_bytes(encode(class_image(99 + index, index, 40), "PNG"))
    (photos / "sub" / "broken.jpg").write_bytes(b"nope")
    found, rows, names = predict_photos(straight / "m.h5", photos)
    assert names == list(classes)
    readable = [row for row in rows if row["predicted"]]
    assert len(readable) == k and rows[-1]["reason"]
    for row in readable:
        probabilities = [float(row[f"probability_{c}"]) for c in classes]
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
        assert row["predicted"] == classes[int(np.argmax(probabilities))]
    plots.save_figure(plots.contact_sheet(found, rows, names, "many"), tmp_path / "sheet.png")


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],  # 0 taken for 1
            [0.1, 0.8, 0.1],
            [0.1, 0.6, 0.3],
            [0.1, 0.1, 0.8],
            [0.3, 0.3, 0.4],
            [0.5, 0.2, 0.3],  # 2 taken for 0
        ]
    )
    m = classification_metrics(labels, probabilities, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "roc_auc": 0.8}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == 1
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.8) / 3)
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.8, 0.2, 0.8, 0.6, 0.8, 0.4, 0.3])))
    assert m["confusion_matrix_normalized"][2] == pytest.approx([1 / 3, 0, 2 / 3])
    assert m["roc_auc"] == pytest.approx(np.mean([m["per_class"][c]["roc_auc"] for c in "abc"]))

    # two classes keep today's metrics, under today's names, from the sigmoid's probability
    p = np.array([0.9, 0.2, 0.6, 0.4])
    two = classification_metrics(np.array([1, 0, 0, 1]), class_probabilities(p), ["cats", "dogs"])
    assert two["confusion_matrix"] == [[1, 1], [1, 1]]
    assert two["precision"] == 0.5 and two["recall"] == 0.5 and two["roc_auc"] == 0.75
    assert two["balanced_accuracy"] == 0.5 and two["accuracy"] == 0.5


def test_the_model_check_derives_the_k_class_counts_from_the_books():
    book = {
        "image_size": [150, 150],
        "conv_filters": [32, 64, 128, 128],
        "dense_units": 512,
        "dropout": 0.5,
        "augmentation": None,
        "base": None,
        "expect": {"params": 3453121, "shapes": [148, 74, 72, 36, 34, 17, 15, 7, 6272, 512, 1]},
    }
    settings = ModelSettings.of(book)
    check_summary(summary_rows(model_from_settings(settings)), settings.expect, "book")
    six = summary_rows(model_from_settings(settings.replace(num_classes=6)))
    assert sum(row["params"] for row in six) == 3453121 + 5 * 513
    check_summary(six, settings.expect, "book", num_classes=6)
    with pytest.raises(
        ConfigError,
        match=r"outputs 6 but .*shapes expects 5 \(the two-class expectation with a 5-unit head\)",
    ):
        check_summary(six, settings.expect, "book", num_classes=5)
    with pytest.raises(
        ConfigError, match=r"3,455,686 parameters but experiments.book.expect.params expects 3,455,173"
    ):
        check_summary(six, {"params": 3453121}, "book", num_classes=5)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        model_from_settings(settings.replace(num_classes=1))
