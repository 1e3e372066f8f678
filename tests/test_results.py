"""The markdown tables docs/results.md is built from, on a results folder made by the package."""

from __future__ import annotations

import json

from convnet.core.files import atomic_write_table
from convnet.core.tables import summary_table
from results_tables import main

BENCHMARK_HEADER = [
    "s",
    "h:m:s",
    "max_rss",
    "max_vms",
    "max_uss",
    "max_pss",
    "io_in",
    "io_out",
    "mean_load",
    "cpu_time",
]


def fake_results(root, accuracies=None):
    accuracies = accuracies or {1: 0.70, 2: 0.74}
    results = root / "results"
    paths = []
    for seed, accuracy in accuracies.items():
        values = {
            "images": 1000,
            "loss": 0.6,
            "accuracy": accuracy,
            "precision": 0.7,
            "recall": 0.7,
            "roc_auc": 0.8,
        }
        path = results / "metrics" / "baseline" / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"experiment": "baseline", "seed": seed, "last": values, "best": values}))
        paths.append(path)
        # val loss bottoms out at epoch 2, then the model overfits
        epochs = [
            [1, 0.69, 0.55, 0.68, 0.56, 1e-4, 60.0],
            [2, 0.55, 0.72, 0.58, 0.70, 1e-4, 58.0],
            [3, 0.30, 0.90, 0.65, accuracy, 1e-4, 59.0],
        ]
        header = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
        atomic_write_table(results / "history" / "baseline" / f"seed{seed}.csv", header, epochs)
        row = [1790.5, "0:29:50", 2100.4, 0, 0, 0, 0, 0, 0, 0]
        atomic_write_table(
            results / "benchmarks" / "train" / "baseline" / f"seed{seed}.tsv", BENCHMARK_HEADER, [row], "\t"
        )
        card = {
            "experiment": "baseline",
            "seed": seed,
            "precision": "mixed_bfloat16",
            "hardware": {
                "backend": "tensorflow",
                "gpus": [],
                "cpu": "AMD EPYC",
                "cpu_flags": ["avx512_bf16"],
                "threads": 2,
            },
            "training": {"epochs": 3, "resumed_after_epochs": [2] if seed == 2 else [], "seconds": 177.0},
            "project": {"commit": "0123456789abcdef", "changed_files": 0},
            # the rest of a card (convnet.core.runcard.RunCard), which these tables do not show
            "settings": {"seed": seed},
            "data": {"classes": ["cats", "dogs"]},
            "software": {"python": "3.11.7"},
        }
        (results / "models" / "baseline").mkdir(parents=True, exist_ok=True)
        (results / "models" / "baseline" / f"seed{seed}.json").write_text(json.dumps(card))
    summary_table(paths, results / "metrics" / "baseline_summary.csv")
    return results


def test_tables_show_mean_spread_overfitting_and_wall_time(tmp_path, capsys):
    results = fake_results(tmp_path)
    assert main(["--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "| baseline | last | 2 | 0.720 +- 0.028 (0.700-0.740) | 0.600 +- 0.000 (0.600-0.600) |" in out
    # seed 1: 3 epochs, last val acc 0.700, highest 0.700, lowest val loss at epoch 2, gap 0.90-0.70
    assert "| baseline | 1 | 3 | 0.700 | 0.700 | 2 | 0.580 | 0.650 | +0.200 | 59.0 |" in out
    assert "| train/baseline/seed2 | 1790 | 0:29:50 | 2100 |" in out
    # seed 2: val acc 0.74 at the last epoch, (0.56 + 0.70 + 0.74) / 3 over the last 10, 177 s of
    # epochs; balanced accuracy and macro F1 not in these (older) metrics files
    assert "| baseline | 2 | 0.740 | 0.667 | 0.740 | 0.740 | n/a | n/a | 0.800 | 3 |" in out
    assert (
        "| baseline | 2 | tensorflow | mixed_bfloat16 | AMD EPYC (avx512_bf16) | 2 | 0123456789 | 3 | 2 | 0.05 |"
        in out
    )


def test_one_seed_shows_no_spread_and_no_results_is_a_clear_error(tmp_path, capsys):
    results = fake_results(tmp_path, {1: 0.70})
    assert main(["--results", str(results)]) == 0
    assert "| baseline | last | 1 | 0.700 | 0.600 |" in capsys.readouterr().out
    assert main(["--results", str(tmp_path / "nothing")]) == 2
    assert "run the workflow first" in capsys.readouterr().err


def test_an_empty_history_names_the_file(tmp_path, capsys):
    results = fake_results(tmp_path, {1: 0.70})
    (results / "history" / "baseline" / "seed1.csv").write_text("epoch,loss\n")
    assert main(["--results", str(results)]) == 2
    assert "seed1.csv is empty" in capsys.readouterr().err
