from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from convnet import plots
from convnet.evaluate import metrics_table
from convnet.metrics import binary_cross_entropy, binary_metrics, roc_auc


def test_metrics_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    probs = np.array([0.1, 0.6, 0.4, 0.9, 0.8, 0.3, 0.7, 0.55])
    m = binary_metrics(labels, probs)
    # predicted: 0 1 0 1 1 0 1 1 -> tp 4, tn 2, fp 1, fn 1
    assert m["confusion_matrix"] == [[2, 1], [1, 4]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(4 / 5)
    assert m["recall"] == pytest.approx(4 / 5)
    # positive/negative pairs ranked correctly: 15 pairs; wrong ones: (0.6 > 0.3, 0.55) and (0.4 > 0.3)
    assert m["roc_auc"] == pytest.approx(12 / 15)
    expected_loss = -np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))
    assert m["loss"] == pytest.approx(expected_loss)
    assert m["images"] == 8


def test_constant_predictor_has_the_class_share_as_accuracy_and_auc_one_half():
    labels = np.array([1] * 30 + [0] * 10)
    m = binary_metrics(labels, np.full(40, 0.9))
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(0.75)
    assert m["roc_auc"] == pytest.approx(0.5)
    assert m["loss"] == pytest.approx(-(0.75 * np.log(0.9) + 0.25 * np.log(0.1)))


def test_auc_edge_cases():
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    assert roc_auc(np.array([0, 1]), np.array([0.2, 0.3])) == 1.0
    assert binary_cross_entropy(np.array([1]), np.array([0.0])) == pytest.approx(-np.log(1e-7))


def test_metrics_table_has_a_row_per_experiment_and_checkpoint(tmp_path):
    paths = []
    for name, acc in (("baseline", 0.7), ("augmented", 0.8)):
        values = {
            "images": 10,
            "loss": 0.5,
            "accuracy": acc,
            "precision": 0.6,
            "recall": 0.7,
            "roc_auc": 0.9,
            "confusion_matrix": [[1, 2], [3, 4]],
        }
        path = tmp_path / f"{name}.json"
        path.write_text(
            json.dumps({"experiment": name, "last": values, "best": dict(values, accuracy=acc + 0.05)})
        )
        paths.append(path)
    metrics_table(paths, tmp_path / "table.csv")
    table = pd.read_csv(tmp_path / "table.csv")
    assert list(table["experiment"]) == ["baseline", "baseline", "augmented", "augmented"]
    assert list(table["checkpoint"]) == ["last", "best"] * 2
    assert table["accuracy"].tolist() == pytest.approx([0.7, 0.75, 0.8, 0.85])


def synthetic_history(epochs=12, best=5):
    epoch = np.arange(1, epochs + 1)
    val_loss = 0.4 + 0.01 * (epoch - best) ** 2
    return pd.DataFrame(
        {
            "epoch": epoch,
            "loss": 0.7 / epoch,
            "accuracy": 1 - 0.5 / epoch,
            "val_loss": val_loss,
            "val_accuracy": 0.9 - val_loss / 2,
            "learning_rate": 1e-4,
            "seconds": 1.0,
        }
    )


def assert_png(path, min_size=(400, 300)):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # not blank


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_history_plot_marks_the_best_epoch(tmp_path, metric):
    history = synthetic_history(best=5)
    figure = plots.history_figure(history, metric, "baseline")
    ax = figure.axes[0]
    markers = [line for line in ax.get_lines() if line.get_gid() == "best-epoch"]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [5, 5]
    assert ax.get_title() and ax.get_xlabel() == "Epoch" and ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 3
    plots.save_figure(figure, tmp_path / f"baseline_{metric}.png")
    assert_png(tmp_path / f"baseline_{metric}.png")
    assert not list(tmp_path.glob(".*tmp*"))


def test_comparison_confusion_and_errors_plots(tmp_path):
    figure = plots.comparison_figure(
        {"baseline": synthetic_history(), "augmented": synthetic_history(20, 15)},
        {"baseline": 0.71, "augmented": 0.83},
    )
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["baseline (test accuracy 0.710)", "augmented (test accuracy 0.830)"]
    plots.save_figure(figure, tmp_path / "comparison.png")
    assert_png(tmp_path / "comparison.png")

    values = {"accuracy": 0.5, "confusion_matrix": [[3, 1], [2, 4]]}
    figure = plots.confusion_figure(
        {"experiment": "x", "classes": ["cats", "dogs"], "last": values, "best": values}
    )
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    assert texts == ["1", "2", "3", "4"]
    plots.save_figure(figure, tmp_path / "confusion.png")
    assert_png(tmp_path / "confusion.png")

    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([0.9, 0.2, 0.4, 0.05, 0.8])
    assert list(plots.most_confident_errors(labels, probs, 5)) == [3, 0, 2]
    images = np.random.default_rng(0).integers(0, 255, (5, 20, 20, 3), dtype=np.uint8)
    figure = plots.errors_figure(images, labels, probs, ("cats", "dogs"), "x")
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[0] == "true: dogs\nP(dogs) = 0.050"
    plots.save_figure(figure, tmp_path / "errors.png")
    assert_png(tmp_path / "errors.png")
