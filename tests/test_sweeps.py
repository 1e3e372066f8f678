"""Sweeps: a grid in the config fans out as one training job per point and seed, filed under paths
that name the point's settings; a leaderboard ranks the points on validation by the sweep's rule,
from whatever has finished; only the winner's runs read the test set; adding a value or a seed
trains only what is new, and a killed sweep goes on where it stopped."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import time

import pytest
import yaml
from conftest import ROOT, SHARES_THE_REFERENCE, load_config

import fault_suite
from convnet.core.errors import ConfigError
from convnet.core.experiments import experiment_settings, run_settings
from convnet.core.sweeps import (
    BEST_BY_LESS,
    Rank,
    check_sweeps,
    incumbent_point,
    leaderboard,
    path_value,
    sweep_points,
    sweep_rank,
    winner_of,
    winner_test_record,
    with_sweep_points,
    write_leaderboard,
)

SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
SWEEP = {
    "experiment": "augmented",
    "grid": {"learning_rate": [1.0e-3, 3.0e-4], "augmentation.zoom": [0.1, 0.3]},
    "seeds": [1, 2],
    "rank": {"metric": "val_accuracy", "last_epochs": 5},
}


def with_sweep(**changes) -> dict:
    config = load_config()
    config["sweeps"] = {"lr": {**SWEEP, **changes}}
    return config


def test_every_combination_is_a_point_named_by_its_settings():
    config = with_sweep()
    points = sweep_points(config, "lr")
    assert [p.name for p in points] == [
        "sweeps/lr/augmentation.zoom~0.1/learning_rate~0.001",
        "sweeps/lr/augmentation.zoom~0.3/learning_rate~0.001",
        "sweeps/lr/augmentation.zoom~0.1/learning_rate~0.0003",
        "sweeps/lr/augmentation.zoom~0.3/learning_rate~0.0003",
    ]
    assert [path_value(v) for v in (3e-05, 90, True, None, [32, 64])] == [
        "3e-05",
        "90",
        "true",
        "null",
        "32-64",
    ]


def test_a_point_is_its_experiment_with_the_points_settings_and_the_sweeps_seeds():
    config = with_sweep()
    expanded = with_sweep_points(config)
    point = sweep_points(config, "lr")[1]
    settings = experiment_settings(expanded, point.name)
    start = experiment_settings(config, "augmented")
    assert settings["learning_rate"] == 1e-3 and settings["augmentation"]["zoom"] == 0.3
    assert settings["seeds"] == [1, 2]
    differing = {k for k in settings if settings[k] != start[k]}
    assert differing == {"learning_rate", "augmentation", "seeds"}
    assert {k for k in start["augmentation"] if start["augmentation"][k] != settings["augmentation"][k]} == {
        "zoom"
    }
    assert run_settings(expanded, point.name, 2)["seed"] == 2
    # the config's own experiments are unchanged: rule all does not build the points
    assert list(config["experiments"]) == ["baseline", "augmented"]


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"experiment": "wider"},
            "sweeps.lr.experiment is 'wider', which is not an experiment of the config",
        ),
        (
            {"grid": {"learning_rate": ["fast"]}},
            'sweeps.lr.grid: learning_rate is "fast" but must be a number',
        ),
        ({"grid": {"seeds": [[1], [2]]}}, "sweeps.lr.grid.seeds: a sweep cannot vary seeds"),
        ({"grid": {"dropout": [0.5, 0.5]}}, "sweeps.lr.grid.dropout lists a value twice"),
        ({"grid": {"colour": [1]}}, "unknown key 'colour'"),
        ({"grid": {"epochs": [2]}}, "warmup_epochs"),
        (
            {"rank": {"metric": "val_accuracy", "last_epochs": 5, "margin": 0.01}},
            "sweeps.lr.rank.margin: no grid point holds augmented's own settings "
            "(learning_rate: 0.0001, augmentation.zoom: 0.2)",
        ),
    ],
)
def test_a_bad_sweep_is_one_line_naming_the_key(changes, message):
    config = with_sweep(**changes)
    if "epochs" in changes.get("grid", {}):  # every point is checked as an experiment too
        config["experiments"]["augmented"].update(learning_rate_schedule="cosine", warmup_epochs=3)
    with pytest.raises(ConfigError) as error:
        check_sweeps(config, SCHEMA)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_schema_checks_a_sweeps_shape(tmp_path):
    from convnet.core.config import schema_error

    config = with_sweep(rank={"metric": "accuracy", "last_epochs": 5})
    assert "sweeps.lr.rank.metric" in schema_error(config, SCHEMA)
    assert "sweeps.lr.seeds" in schema_error(with_sweep(seeds=[]), SCHEMA)
    assert "sweeps.lr: 'grid' is a required property" in schema_error(
        {**with_sweep(), "sweeps": {"lr": {k: v for k, v in SWEEP.items() if k != "grid"}}}, SCHEMA
    )


def history(*accuracies, seconds=60.0):
    return [
        {"epoch": i + 1, "val_accuracy": a, "val_loss": 1 - a, "seconds": seconds}
        for i, a in enumerate(accuracies)
    ]


POINTS = [{"name": f"p{i}", "label": f"x~{i}", "seeds": [1, 2]} for i in range(3)]


def test_the_leaderboard_ranks_by_the_rule_and_marks_the_winner_only_when_complete():
    rank = Rank("val_accuracy", 2)
    runs = {
        "p0": {1: history(0.9, 0.5, 0.6), 2: history(0.9, 0.6, 0.7)},  # last two: 0.55, 0.65
        "p1": {1: history(0.1, 0.8, 0.8), 2: history(0.1, 0.7, 0.9, seconds=120)},  # 0.8, 0.8
        "p2": {1: history(0.99, 0.99)},  # seed 2 still training
    }
    rows = leaderboard(POINTS, rank, runs, tested=set())
    assert [r["point"] for r in rows] == ["p1", "p0", "p2"]
    assert [r["rank"] for r in rows] == [1, 2, ""]
    assert rows[0]["score_mean"] == pytest.approx(0.8) and rows[1]["score_mean"] == pytest.approx(0.6)
    assert rows[1]["score_std"] == pytest.approx(math.sqrt(0.005))
    assert rows[0]["minutes_per_run"] == pytest.approx(4.5)  # 3 and 6 minutes
    assert rows[2]["seeds_finished"] == 1 and winner_of(rows) is None, "a partial sweep has no winner"

    runs["p2"][2] = history(0.95, 0.95)
    rows = leaderboard(POINTS, rank, runs, tested={"p0"})
    assert winner_of(rows) == "p2" and rows[0]["test_read"] == "yes"
    assert {r["point"]: r["test_read"] for r in rows[1:]} == {"p1": "", "p0": "yes"}
    # a loss: lower is better
    by_loss = leaderboard(POINTS, Rank("val_loss", 2), runs, tested=set())
    assert winner_of(by_loss) == "p2" and [r["point"] for r in by_loss][1:] == ["p1", "p0"]


def test_with_a_margin_the_best_point_wins_only_that_much_above_the_experiments_own_settings():
    # the grid's point with augmented's own learning rate (1e-4, dotted and absent keys read too)
    config = with_sweep(
        grid={"learning_rate": [1.0e-3, 1.0e-4], "learning_rate_floor": [0.0]},
        rank={"metric": "val_accuracy", "last_epochs": 2, "margin": 0.05},
    )
    check_sweeps(config, SCHEMA)
    assert incumbent_point(config, "lr").label == "learning_rate~0.0001/learning_rate_floor~0.0"
    rank = sweep_rank(config, "lr")
    assert rank.incumbent == "learning_rate~0.0001/learning_rate_floor~0.0"
    assert "at least 0.05 above learning_rate~0.0001/learning_rate_floor~0.0" in rank.describe()

    points = [{"name": f"p{i}", "label": f"x~{i}", "seeds": [1]} for i in range(3)]
    margin = Rank("val_accuracy", 1, margin=0.05, incumbent="x~1")
    # the best (p0, 0.74) is 0.04 above the incumbent (p1, 0.70): the incumbent wins
    runs = {"p0": {1: history(0.74)}, "p1": {1: history(0.70)}, "p2": {1: history(0.60)}}
    rows = leaderboard(points, margin, runs, tested=set())
    assert [r["point"] for r in rows] == ["p0", "p1", "p2"]
    assert [r["winner"] for r in rows] == [BEST_BY_LESS, "winner", ""]
    assert winner_of(rows) == "p1" and [r["test_read"] for r in rows] == ["", "yes", ""]
    # 0.05 above (up to rounding) is enough; a loss is better by being that much lower
    runs["p0"] = {1: history(0.75)}
    assert winner_of(leaderboard(points, margin, runs, tested=set())) == "p0"
    by_loss = Rank("val_loss", 1, margin=0.05, incumbent="x~1")
    assert winner_of(leaderboard(points, by_loss, runs, tested=set())) == "p0"
    runs["p0"] = {1: history(0.72)}
    assert winner_of(leaderboard(points, by_loss, runs, tested=set())) == "p1"
    # the incumbent best: it wins, nothing is marked as missing the margin
    runs["p1"] = {1: history(0.80)}
    rows = leaderboard(points, margin, runs, tested=set())
    assert [r["winner"] for r in rows] == ["winner", "", ""] and winner_of(rows) == "p1"


def test_winner_json_says_whether_the_winner_replaces_the_incumbent(tmp_path):
    histories = {}
    for name, accuracy in (("p0", 0.74), ("p1", 0.70)):
        path = tmp_path / f"{name}.csv"
        path.write_text("epoch,val_accuracy,val_loss,seconds\n" + f"1,{accuracy},{1 - accuracy},60\n")
        histories[name] = {"1": str(path)}
    params = {
        "spec": {
            "experiment": "augmented",
            "grid": {"x": [0, 1]},
            "seeds": [1],
            "rank": {"metric": "val_accuracy", "last_epochs": 1, "margin": 0.05},
        },
        "incumbent": "x~1",
        "points": [{"name": f"p{i}", "label": f"x~{i}", "seeds": [1]} for i in range(2)],
        "histories": histories,
    }
    write_leaderboard("s", params, [], tmp_path / "board.csv", tmp_path / "winner.json")
    record = json.loads((tmp_path / "winner.json").read_text())
    assert (record["winner"], record["incumbent"], record["adopted"]) == ("p1", "p1", False)
    assert "at least 0.05 above x~1" in record["rule"]
    assert [row["winner"] for row in read_board(tmp_path / "board.csv")] == [BEST_BY_LESS, "winner"]
    params["spec"]["rank"]["margin"] = 0.03
    write_leaderboard("s", params, [], tmp_path / "board.csv", tmp_path / "winner.json")
    record = json.loads((tmp_path / "winner.json").read_text())
    assert (record["winner"], record["adopted"]) == ("p0", True)
    # without a margin there is no incumbent to replace
    del params["spec"]["rank"]["margin"]
    write_leaderboard(
        "s", {**params, "incumbent": None}, [], tmp_path / "board.csv", tmp_path / "winner.json"
    )
    record = json.loads((tmp_path / "winner.json").read_text())
    assert (record["winner"], record["incumbent"], record["adopted"]) == ("p0", None, None)


def test_the_winners_test_record_names_its_rule_and_leaderboard():
    winner = {
        "sweep": "lr",
        "experiment": "augmented",
        "rule": Rank("val_accuracy", 5).describe(),
        "winner": "p1",
        "leaderboard": "results/sweeps/lr/leaderboard.csv",
        "rows": [{"point": "p1"}],
    }
    record = winner_test_record(
        winner, {1: {"last": {"accuracy": 0.8}, "best": {"accuracy": 0.7}}, 2: {"last": {"accuracy": 0.6}}}
    )
    assert record["rule"].startswith(
        "highest mean over seeds of val_accuracy averaged over each run's last 5"
    )
    assert record["test_accuracy_mean"] == {"last": pytest.approx(0.7), "best": pytest.approx(0.7)}
    assert record["leaderboard"] == "results/sweeps/lr/leaderboard.csv" and record["leaderboard_rows"] == [
        {"point": "p1"}
    ]


# ---------------------------------------------------------------------------------------------
# Through Snakemake, on the fault suite's finished tiny run

TINY_SWEEP = "sweeps={{s: {{experiment: baseline, grid: {{learning_rate: [{values}]}}, seeds: [{seeds}], rank: {{metric: val_accuracy, last_epochs: 2}}}}}}"
FIRST, SECOND, THIRD = (
    "sweeps/s/learning_rate~0.001",
    "sweeps/s/learning_rate~0.003",
    "sweeps/s/learning_rate~0.01",
)


def sweep_args(base: list[str], values="0.001, 0.003", seeds="1, 2") -> list[str]:
    """The reference run's arguments with the tiny sweep over baseline's learning rate."""
    return [*base, TINY_SWEEP.format(values=values, seeds=seeds)]


def read_board(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def tiny_sweep(reference, tmp_path_factory):
    """The reference run copied, then a sweep over baseline's learning rate (2 points x 2 seeds):
    first one point's runs and the leaderboard so far, then the whole sweep. Yields the folder,
    the reference's arguments, the leaderboard so far and the whole sweep's plan."""
    workdir = fault_suite.copy_of(reference, tmp_path_factory.mktemp("sweep") / "run")
    args = sweep_args(reference.args)
    first = [f"results/history/{FIRST}/seed{seed}.csv" for seed in (1, 2)]
    fault_suite.checked(fault_suite.run(workdir, *first, *args))
    fault_suite.checked(fault_suite.run(workdir, "results/sweeps/s/leaderboard_so_far.png", *args))
    so_far = read_board(workdir / "results/sweeps/s/leaderboard_so_far.csv")
    plan = fault_suite.planned_rules(fault_suite.checked(fault_suite.run(workdir, "sweep", *args)))
    return workdir, list(reference.args), so_far, plan


def planned(workdir, *args) -> dict[str, int]:
    return fault_suite.planned_rules(fault_suite.checked(fault_suite.run(workdir, "-n", *args)))


@SHARES_THE_REFERENCE
@pytest.mark.slow
def test_a_partial_sweep_has_a_leaderboard_so_far_without_a_winner(tiny_sweep):
    _, _, so_far, _ = tiny_sweep
    assert [(r["point"], r["rank"], r["seeds_finished"], r["winner"]) for r in so_far] == [
        (FIRST, "1", "2", ""),
        (SECOND, "", "0", ""),
    ]


@SHARES_THE_REFERENCE
@pytest.mark.slow
def test_the_sweep_trains_the_rest_ranks_and_reads_only_the_winners_test_set(tiny_sweep):
    workdir, base, _, plan = tiny_sweep
    assert plan["train"] == 2, "the first point's runs were already there"
    results = workdir / "results"
    board = read_board(results / "sweeps/s/leaderboard.csv")
    assert [r["rank"] for r in board] == ["1", "2"] and {r["point"] for r in board} == {FIRST, SECOND}
    winner = json.loads((results / "sweeps/s/winner.json").read_text())
    assert (
        winner["winner"] == board[0]["point"]
        and board[0]["winner"] == "winner"
        and board[0]["test_read"] == "yes"
    )
    assert winner["rule"] == "highest mean over seeds of val_accuracy averaged over each run's last 2 epochs"
    # only the winner's runs were evaluated
    evaluated = sorted(
        str(p.relative_to(results / "metrics"))
        for p in (results / "metrics/sweeps").rglob("*.json")
        if not p.name.endswith("_heatmaps.json")
    )
    assert evaluated == [f"{winner['winner']}/seed{seed}.json" for seed in (1, 2)]
    result = json.loads((results / "sweeps/s/winner_test.json").read_text())
    assert result["winner"] == winner["winner"] and set(result["test_metrics"]) == {"1", "2"}
    assert result["leaderboard"] == "results/sweeps/s/leaderboard.csv" and result["rule"] == winner["rule"]
    assert (results / "sweeps/s/leaderboard.png").stat().st_size > 5_000
    # a second run has nothing to do, and the book's experiments were not touched (rule all: only
    # the report's copy of the config, which every change of the config rewrites)
    assert planned(workdir, "sweep", *sweep_args(base)) == {}
    assert planned(workdir, *sweep_args(base)) == {"config_used": 1}
    # the report has a category for the sweep, with its leaderboard and the winner's test result
    fault_suite.checked(fault_suite.run(workdir, "sweep", "--report", "report.html", *sweep_args(base)))
    html = (workdir / "report.html").read_text()
    assert all(
        needle in html for needle in ("Sweep s", "leaderboard.png", "leaderboard.csv", "winner_test.json")
    )


@SHARES_THE_REFERENCE
@pytest.mark.slow
def test_a_seed_added_later_trains_only_its_runs(tiny_sweep):
    workdir, base, _, _ = tiny_sweep
    plan = planned(workdir, "sweep", *sweep_args(base, seeds="1, 2, 3"))
    assert plan["train"] == 2 and "model_summary" not in plan


@SHARES_THE_REFERENCE
@pytest.mark.slow
def test_a_value_added_later_trains_only_its_point_and_a_killed_sweep_goes_on(tiny_sweep):
    workdir, base, _, _ = tiny_sweep
    args = sweep_args(base, values="0.001, 0.003, 0.01")
    plan = planned(workdir, "sweep", *args)
    assert plan["train"] == 2 and "model_summary" not in plan  # the same model: baseline's check
    # killed once one of the new point's runs is done and the other has started (one training at a
    # time: the GPU cap); the next run trains only the other
    proc = fault_suite.start(workdir, "sweep", *args)
    logs = [workdir / f"results/logs/train/{THIRD}/seed{seed}.log" for seed in (1, 2)]
    deadline = time.monotonic() + 300
    while proc.poll() is None and not all(log.exists() for log in logs) and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    fault_suite.checked(fault_suite.run(workdir, "--unlock", *args))
    finished = list((workdir / f"results/history/{THIRD}").glob("seed*.csv"))
    assert finished, "no run of the new point had finished when the sweep was killed"
    times = {p: p.stat().st_mtime_ns for p in finished}
    proc = fault_suite.checked(fault_suite.run(workdir, "sweep", "--rerun-incomplete", *args))
    assert fault_suite.planned_rules(proc).get("train", 0) <= 1
    assert all(p.stat().st_mtime_ns == t for p, t in times.items()), "a finished run was trained again"
    board = read_board(workdir / "results/sweeps/s/leaderboard.csv")
    assert len(board) == 3 and all(r["seeds_finished"] == "2" for r in board)


@SHARES_THE_REFERENCE
@pytest.mark.slow
def test_a_points_test_metrics_asked_for_by_path_show_on_the_leaderboard(tiny_sweep):
    workdir, base, _, _ = tiny_sweep
    args = sweep_args(base)
    fault_suite.checked(fault_suite.run(workdir, "sweep", *args))  # the two points (another test adds one)
    winner = json.loads((workdir / "results/sweeps/s/winner.json").read_text())["winner"]
    other = SECOND if winner == FIRST else FIRST
    fault_suite.checked(fault_suite.run(workdir, f"results/metrics/{other}/seed1.json", *args))
    fault_suite.checked(fault_suite.run(workdir, "sweep", *args))
    board = {r["point"]: r for r in read_board(workdir / "results/sweeps/s/leaderboard.csv")}
    assert board[other]["test_read"] == "yes" and board[other]["winner"] == ""
    assert json.loads((workdir / "results/sweeps/s/winner.json").read_text())["winner"] == winner


def test_grid_values_from_the_command_line_are_read_as_their_settings_types():
    from convnet.core.sweeps import coerce_grid

    config = with_sweep(
        grid={"learning_rate": ["0.001", "3e-4"], "augmentation.zoom": ["0.2"], "dense_units": ["0"]}
    )
    coerce_grid(config, SCHEMA)
    assert config["sweeps"]["lr"]["grid"] == {
        "learning_rate": [0.001, 3e-4],
        "augmentation.zoom": [0.2],
        "dense_units": [0],
    }
    check_sweeps(config, SCHEMA)
