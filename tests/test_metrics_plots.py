from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from convnet.report import plots
from convnet.core.tables import metrics_table, summary_table
from convnet.arrays import metrics
from convnet.arrays.metrics import binary_cross_entropy, binary_metrics, class_probabilities, roc_auc


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


def write_run_metrics(tmp_path, name, seed, accuracy, roc_auc=0.9):
    values = {
        "images": 10,
        "loss": 0.5,
        "accuracy": accuracy,
        "precision": 0.6,
        "recall": 0.7,
        "roc_auc": roc_auc,
        "confusion_matrix": [[1, 2], [3, 4]],
    }
    path = tmp_path / f"{name}-{seed}.json"
    best = dict(values, accuracy=accuracy + 0.05)
    path.write_text(json.dumps({"experiment": name, "seed": seed, "last": values, "best": best}))
    return path


def test_metrics_table_has_a_row_per_run_and_checkpoint(tmp_path):
    paths = [
        write_run_metrics(tmp_path, "baseline", 1, 0.7),
        write_run_metrics(tmp_path, "augmented", 2, 0.8),
    ]
    metrics_table(paths, tmp_path / "table.csv")
    table = pd.read_csv(tmp_path / "table.csv")
    assert list(table["experiment"]) == ["baseline", "baseline", "augmented", "augmented"]
    assert list(table["seed"]) == [1, 1, 2, 2]
    assert list(table["checkpoint"]) == ["last", "best"] * 2
    assert table["accuracy"].tolist() == pytest.approx([0.7, 0.75, 0.8, 0.85])


def test_summary_gives_mean_and_spread_over_seeds(tmp_path):
    paths = [
        write_run_metrics(tmp_path, "baseline", 3, 0.70),
        write_run_metrics(tmp_path, "baseline", 1, 0.74),
        write_run_metrics(tmp_path, "baseline", 2, 0.66, roc_auc=None),
    ]
    summary_table(paths, tmp_path / "summary.csv")
    table = pd.read_csv(tmp_path / "summary.csv").set_index("checkpoint")
    last = table.loc["last"]
    assert last["seeds"] == "1 2 3" and last["experiment"] == "baseline"
    assert last["accuracy_mean"] == pytest.approx(0.70)
    assert last["accuracy_std"] == pytest.approx(0.04, abs=1e-4)  # sample standard deviation
    assert (last["accuracy_min"], last["accuracy_max"]) == pytest.approx((0.66, 0.74))
    assert table.loc["best", "accuracy_mean"] == pytest.approx(0.75)
    # the run without an AUC is left out of the AUC's statistics, not counted as zero
    assert last["roc_auc_mean"] == pytest.approx(0.9) and last["roc_auc_std"] == pytest.approx(0.0)

    summary_table(paths[:1], tmp_path / "one.csv")
    one = pd.read_csv(tmp_path / "one.csv")
    assert one["accuracy_mean"].tolist() == pytest.approx([0.70, 0.75])
    assert one["accuracy_std"].isna().all()  # one seed: no spread to report


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
    figure = plots.history_figure([history], metric, "baseline")
    ax = figure.axes[0]
    markers = [line for line in ax.get_lines() if line.get_gid() == "best-epoch"]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [5, 5]
    assert ax.get_title() and ax.get_xlabel() == "Epoch" and ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 3
    plots.save_figure(figure, tmp_path / f"baseline_{metric}.png")
    assert_png(tmp_path / f"baseline_{metric}.png")
    assert not list(tmp_path.glob(".*tmp*"))


def test_history_plot_of_several_seeds_shows_their_mean_and_range(tmp_path):
    runs = [synthetic_history(best=4), synthetic_history(best=6), synthetic_history(best=8)]
    runs[0]["val_accuracy"] -= 1.0  # clearly the lowest at every epoch
    combined = plots.seed_statistics(runs)
    expected = np.mean([run["val_accuracy"] for run in runs], axis=0)
    assert combined["val_accuracy"].to_numpy() == pytest.approx(expected)
    assert combined["val_accuracy_min"].to_numpy() == pytest.approx(runs[0]["val_accuracy"].to_numpy())
    figure = plots.history_figure(runs, "accuracy", "baseline")
    ax = figure.axes[0]
    bands = [c for c in ax.collections if (c.get_gid() or "").startswith("seed-range")]
    assert len(bands) == 2
    (marker,) = [line for line in ax.get_lines() if line.get_gid() == "best-epoch"]
    assert list(marker.get_xdata()) == [6, 6]  # lowest mean validation loss
    assert "mean of 3 seeds" in ax.get_title()
    plots.save_figure(figure, tmp_path / "seeds.png")
    assert_png(tmp_path / "seeds.png")


def test_comparison_confusion_and_errors_plots(tmp_path):
    figure = plots.comparison_figure(
        {
            "baseline": [synthetic_history()],
            "augmented": [synthetic_history(20, 15), synthetic_history(20, 14)],
        },
        {"baseline": [0.71], "augmented": [0.83, 0.81]},
    )
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["baseline (test accuracy 0.710)", "augmented (test accuracy 0.820 +- 0.014, 2 seeds)"]
    plots.save_figure(figure, tmp_path / "comparison.png")
    assert_png(tmp_path / "comparison.png")

    values = {"accuracy": 0.5, "confusion_matrix": [[3, 1], [2, 4]]}
    figure = plots.confusion_figure(
        {"experiment": "x", "seed": 1, "classes": ["cats", "dogs"], "last": values, "best": values}
    )
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    assert texts == ["1\n25%", "2\n33%", "3\n75%", "4\n67%"]  # count and share of the true class
    plots.save_figure(figure, tmp_path / "confusion.png")
    assert_png(tmp_path / "confusion.png")

    labels = np.array([0, 0, 1, 1, 1])
    probs = class_probabilities(np.array([0.9, 0.2, 0.4, 0.05, 0.8]))
    assert list(metrics.most_confident_errors(labels, probs, 5)) == [3, 0, 2]
    images = np.random.default_rng(0).integers(0, 255, (5, 20, 20, 3), dtype=np.uint8)
    figure = plots.errors_figure(images, labels, probs, ("cats", "dogs"), "x")
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[0] == "true: dogs\npredicted: cats (0.950)"
    plots.save_figure(figure, tmp_path / "errors.png")
    assert_png(tmp_path / "errors.png")
