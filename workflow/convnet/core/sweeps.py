"""Sweeps: a grid of settings over an experiment, one run per grid point and seed, ranked on
validation by a rule stated in the config, and only the winner evaluated on the test set.

A sweep ``s`` over experiment ``e`` with ``grid: {learning_rate: [1e-3, 3e-3], epochs: [60, 90]}``
has four points; each is an experiment of its own, named by its path, Snakemake's ``Paramspace``
way (``key~value``, the keys in sorted order): ``sweeps/s/epochs~60/learning_rate~0.001``. Its
runs are the experiment's files under that name (``results/models/sweeps/s/epochs~60/
learning_rate~0.001/seed1.h5``, ``results/history/...``), trained by the same rule as every run.
Standard library only: the Snakefile needs it at parse time.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import dataclass

from .errors import ConfigError
from .experiments import NOT_RUN_SETTINGS, check_experiments, experiment_settings
from .settings import ABSENT_SETTINGS

SWEEPS_FOLDER = "sweeps"
# a grid value as it appears in a path: what a person reads, and what a file system takes
VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_.+-]+$")
# settings a grid cannot vary: the seeds are the sweep's own, and a point is based on its experiment
NOT_SWEPT = ("seeds", "based_on", *NOT_RUN_SETTINGS)


@dataclass(frozen=True)
class Point:
    """One grid point of a sweep: its settings and the experiment name its runs are filed under."""

    sweep: str
    values: tuple[tuple[str, object], ...]  # (setting, value), the settings sorted

    @property
    def label(self) -> str:
        """``epochs~60/learning_rate~0.001``: the point's part of every path."""
        return "/".join(f"{key}~{path_value(value)}" for key, value in self.values)

    @property
    def name(self) -> str:
        return f"{SWEEPS_FOLDER}/{self.sweep}/{self.label}"

    def changes(self) -> dict:
        """The point's settings as an experiment's changes (a dotted key is a nested one)."""
        changes: dict = {}
        for key, value in self.values:
            *parents, last = key.split(".")
            node = changes
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = copy.deepcopy(value)
        return changes


def path_value(value) -> str:
    """A grid value as a path shows it: numbers as Python writes them (0.001, 3e-05, 90), true and
    false, null, a list joined by ``-`` (``32-64-128``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "-".join(path_value(v) for v in value)
    return str(value)


def sweep_names(config: dict) -> list[str]:
    return list(config.get("sweeps") or {})


def sweep_points(config: dict, sweep: str) -> list[Point]:
    """Every combination of the sweep's grid, in the grid's order (the first setting varies
    slowest, each setting's values as listed)."""
    grid = config["sweeps"][sweep]["grid"]
    keys = list(grid)
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    points = []
    for combination in itertools.product(*(grid[key] for key in keys)):
        points.append(Point(sweep, tuple((keys[i], combination[i]) for i in order)))
    return points


def dotted_value(settings: dict, key: str, missing=None):
    """The value of a (dotted: nested) setting, or ``missing`` where ``settings`` leave it out."""
    node = settings
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return missing
        node = node[part]
    return node


def own_settings(config: dict, sweep: str) -> dict:
    """The sweep's experiment's own values of the settings its grid varies (a setting the
    experiment leaves out: its ABSENT_SETTINGS value)."""
    spec = config["sweeps"][sweep]
    settings = experiment_settings(config, spec["experiment"])
    return {
        setting: dotted_value(settings, setting, ABSENT_SETTINGS.get(setting)) for setting in spec["grid"]
    }


def incumbent_point(config: dict, sweep: str) -> Point | None:
    """The grid point that holds the sweep's experiment's own settings (the recipe as it is), if
    the grid has one: with ``rank.margin``, the point every other must beat by that margin."""
    own = own_settings(config, sweep)

    def same(a, b) -> bool:  # 0 and 0.0 are one value; true and 1 are not
        return a == b and isinstance(a, bool) == isinstance(b, bool)

    return next(
        (
            point
            for point in sweep_points(config, sweep)
            if all(same(value, own[key]) for key, value in point.values)
        ),
        None,
    )


def sweep_rank(config: dict, sweep: str) -> Rank:
    """The sweep's ranking rule, with its incumbent when the rule has a margin."""
    incumbent = incumbent_point(config, sweep)
    return Rank.of(config["sweeps"][sweep]["rank"], incumbent.label if incumbent else None)


def all_points(config: dict) -> list[Point]:
    return [point for sweep in sweep_names(config) for point in sweep_points(config, sweep)]


def with_sweep_points(config: dict) -> dict:
    """The config with every sweep point added to ``experiments`` (based on the sweep's experiment,
    with the sweep's seeds): what the rules read a point's settings from. The config's own
    ``experiments`` stay the experiments ``rule all`` builds."""
    points = all_points(config)
    if not points:
        return config
    expanded = dict(config)
    expanded["experiments"] = dict(config["experiments"])
    for point in points:
        sweep = config["sweeps"][point.sweep]
        expanded["experiments"][point.name] = {
            **point.changes(),
            "based_on": sweep["experiment"],
            "seeds": list(sweep["seeds"]),
        }
    return expanded


def coerce_grid(config: dict, schema: dict) -> None:
    """``--config`` hands a grid's values over as text (``learning_rate: [0.001]`` arrives as
    ``"0.001"``): read each back as the type its setting takes, as for every other key."""
    from .config import coerce_cli_strings

    experiment_schema = {"$ref": "#/$defs/experiment"}
    for spec in (config.get("sweeps") or {}).values():
        grid = spec.get("grid") if isinstance(spec, dict) else None
        for setting, values in (grid or {}).items():
            if not isinstance(values, list):
                continue
            coerced = []
            for value in values:
                changes = coerce_cli_strings(
                    Point("", ((setting, value),)).changes(), experiment_schema, schema
                )
                coerced.append(dotted_value(changes, setting))
            grid[setting] = coerced


def check_sweeps(config: dict, schema: dict) -> None:
    """What the schema cannot say about sweeps: each starts from an experiment of the config,
    varies settings an experiment has (each value of the type that setting takes), and names its
    points by values a path can hold, each point once; then every point as an experiment."""
    from .config import schema_error

    experiments = config["experiments"]
    experiment_schema = {"$ref": "#/$defs/experiment", "$defs": schema["$defs"]}
    for sweep in sweep_names(config):
        key = f"sweeps.{sweep}"
        spec = config["sweeps"][sweep]
        if spec["experiment"] not in experiments:
            raise ConfigError(
                f"{key}.experiment is {spec['experiment']!r}, which is not an experiment of the config "
                f"(its experiments: {', '.join(experiments)}); add it, or its overlay with --configfile"
            )
        for setting, values in spec["grid"].items():
            if setting.split(".")[0] in NOT_SWEPT:
                raise ConfigError(
                    f"{key}.grid.{setting}: a sweep cannot vary {setting}; remove it from the grid"
                )
            for value in values:
                point = Point(sweep, ((setting, value),))
                message = schema_error(point.changes(), experiment_schema)
                if message:
                    raise ConfigError(f"{key}.grid: {message.replace('; fix it', ' (fix it', 1)})")
                if not VALUE_PATTERN.match(path_value(value)):
                    raise ConfigError(
                        f"{key}.grid.{setting}: the value {value!r} cannot name a folder; use numbers, "
                        "true/false or plain names (letters, digits, . _ + -)"
                    )
            if len({path_value(v) for v in values}) != len(values):
                raise ConfigError(f"{key}.grid.{setting} lists a value twice: {values}; list each once")
        if "margin" in spec["rank"] and incumbent_point(config, sweep) is None:
            own = ", ".join(f"{setting}: {value}" for setting, value in own_settings(config, sweep).items())
            raise ConfigError(
                f"{key}.rank.margin: no grid point holds {spec['experiment']}'s own settings ({own}), "
                "the point a winner must beat by the margin; add those values to the grid, or drop the margin"
            )
    check_experiments(with_sweep_points(config))


# ---------------------------------------------------------------------------------------------
# The leaderboard: every point's score over its seeds, from the runs' histories


@dataclass(frozen=True)
class Rank:
    """How a sweep ranks its points: the mean over seeds of each run's ``metric`` averaged over its
    last ``last_epochs`` epochs; higher is better for accuracies, lower for losses. With a
    ``margin``, the best point wins only if it scores at least that much better than the
    ``incumbent`` (the label of the point that holds the experiment's own settings); otherwise the
    incumbent wins, and the recipe stays as it is."""

    metric: str
    last_epochs: int
    margin: float | None = None
    incumbent: str | None = None

    @classmethod
    def of(cls, spec: dict, incumbent: str | None = None) -> Rank:
        margin = spec.get("margin")
        return cls(
            spec["metric"],
            int(spec["last_epochs"]),
            None if margin is None else float(margin),
            incumbent if margin is not None else None,
        )

    @property
    def higher_is_better(self) -> bool:
        return "loss" not in self.metric

    def describe(self) -> str:
        word = "highest" if self.higher_is_better else "lowest"
        rule = (
            f"{word} mean over seeds of {self.metric} averaged over each run's last {self.last_epochs} epochs"
        )
        if self.margin is not None:
            side = "above" if self.higher_is_better else "below"
            rule += (
                f"; it wins only if at least {self.margin:g} {side} {self.incumbent} (the experiment's "
                "own settings), which wins otherwise"
            )
        return rule

    def beats(self, score: float, other: float) -> bool:
        """Whether ``score`` is better than ``other`` by the margin (scores are means of floats:
        a difference that equals the margin up to rounding counts)."""
        better_by = score - other if self.higher_is_better else other - score
        return better_by >= self.margin - 1e-9

    def score(self, history: list[dict]) -> float:
        """One run's score: the mean of ``metric`` over its last ``last_epochs`` epochs."""
        values = [row[self.metric] for row in history[-self.last_epochs :]]
        return sum(values) / len(values) if values else math.nan


# the leaderboard's winner column: the winner, and the best point when it missed the rule's margin
WINNER = "winner"
BEST_BY_LESS = "best, by less than the margin"

LEADERBOARD_COLUMNS = [
    "rank",
    "point",
    "settings",
    "seeds_finished",
    "seeds",
    "score_mean",
    "score_std",
    "score_min",
    "score_max",
    "minutes_per_run",
    "winner",
    "test_read",
]


def leaderboard(
    points: list[dict], rank: Rank, histories: dict[str, dict[int, list[dict]]], tested: set[str]
) -> list[dict]:
    """One row per point, best first by ``rank`` (ties: fewer minutes, then the grid's order).
    ``points``: ``{"name", "label", "seeds"}``; ``histories``: point name -> seed -> rows of its
    history (only the runs that finished); ``tested``: the points whose test metrics exist. Only a
    point with every seed finished is ranked; the winner is marked only when every point is."""
    rows = []
    for order, point in enumerate(points):
        runs = histories.get(point["name"], {})
        scores = [rank.score(runs[seed]) for seed in point["seeds"] if seed in runs]
        seconds = [sum(row["seconds"] for row in runs[seed]) for seed in point["seeds"] if seed in runs]
        complete = len(scores) == len(point["seeds"])
        mean = sum(scores) / len(scores) if scores else math.nan
        spread = (
            math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
            if len(scores) > 1
            else math.nan
        )
        rows.append(
            {
                "rank": "",
                "point": point["name"],
                "settings": point["label"],
                "seeds_finished": len(scores),
                "seeds": len(point["seeds"]),
                "score_mean": mean,
                "score_std": spread,
                "score_min": min(scores) if scores else math.nan,
                "score_max": max(scores) if scores else math.nan,
                "minutes_per_run": sum(seconds) / len(seconds) / 60 if seconds else math.nan,
                "winner": "",
                "test_read": "yes" if point["name"] in tested else "",
                "_complete": complete,
                "_order": order,
            }
        )
    sign = -1 if rank.higher_is_better else 1
    ranked = sorted(
        (row for row in rows if row["_complete"]),
        key=lambda row: (sign * row["score_mean"], row["minutes_per_run"], row["_order"]),
    )
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position
    if ranked and len(ranked) == len(rows):
        winner = ranked[0]
        if rank.margin is not None:
            incumbent = next(row for row in ranked if row["settings"] == rank.incumbent)
            if winner is not incumbent and not rank.beats(winner["score_mean"], incumbent["score_mean"]):
                winner["winner"] = BEST_BY_LESS
                winner = incumbent
        winner["winner"] = WINNER
        winner["test_read"] = "yes"  # the winner's runs are the ones evaluated
    unranked = [row for row in rows if not row["_complete"]]
    return [{key: row[key] for key in LEADERBOARD_COLUMNS} for row in ranked + unranked]


def winner_of(rows: list[dict]) -> str | None:
    return next((row["point"] for row in rows if row["winner"] == WINNER), None)


def board_text(rows: list[dict]) -> list[dict]:
    """The rows as the CSV writes them: scores to 4 decimals, minutes to 1, NaN as empty."""

    def cell(value, digits):
        return "" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}f}"

    out = []
    for row in rows:
        row = dict(row)
        for key in ("score_mean", "score_std", "score_min", "score_max"):
            row[key] = cell(row[key], 4)
        row["minutes_per_run"] = cell(row["minutes_per_run"], 1)
        out.append(row)
    return out


def winner_record(sweep: str, spec: dict, rank: Rank, rows: list[dict], leaderboard_path: str) -> dict:
    """What winner.json holds: the sweep, its rule, the winner and the leaderboard it came from;
    with a margin, the incumbent and whether the winner replaces it (``adopted``)."""
    winner = winner_of(rows)
    incumbent = next((row["point"] for row in rows if row["settings"] == rank.incumbent), None)
    return {
        "sweep": sweep,
        "experiment": spec["experiment"],
        "grid": spec["grid"],
        "seeds": list(spec["seeds"]),
        "rule": rank.describe(),
        "winner": winner,
        "incumbent": incumbent,
        "adopted": None if incumbent is None else winner != incumbent,
        "leaderboard": leaderboard_path,
        "rows": board_text(rows),
    }


def dumps(record: dict) -> str:
    return json.dumps(record, indent=2) + "\n"


def write_leaderboard(
    sweep: str,
    sweep_params: dict,
    tested: list[str],
    table_path,
    winner_path=None,
) -> list[dict]:
    """Read the runs of ``sweep_params["histories"]`` that have finished and write the leaderboard
    (CSV) to ``table_path``; with ``winner_path``, also the winner's record (winner.json)."""
    from pathlib import Path

    from .files import atomic_write_table, atomic_write_text
    from .records import read_history

    spec = sweep_params["spec"]
    rank = Rank.of(spec["rank"], sweep_params.get("incumbent"))
    histories = {
        point: {int(seed): read_history(path) for seed, path in seeds.items() if Path(path).is_file()}
        for point, seeds in sweep_params["histories"].items()
    }
    rows = leaderboard(sweep_params["points"], rank, histories, set(tested))
    atomic_write_table(table_path, LEADERBOARD_COLUMNS, board_text(rows))
    if winner_path is not None:
        if winner_of(rows) is None:
            raise ConfigError(f"sweep {sweep}: not every run has finished, so there is no winner yet")
        atomic_write_text(winner_path, dumps(winner_record(sweep, spec, rank, rows, str(table_path))))
    return rows


def winner_test_record(winner: dict, metrics: dict[int, dict]) -> dict:
    """winner_test.json: the winner's record (its rule and leaderboard) with the test metrics of
    each of its runs (``metrics``: seed -> the run's metrics JSON) and their mean per checkpoint."""
    means = {}
    for checkpoint in ("last", "best"):
        values = [run[checkpoint]["accuracy"] for run in metrics.values() if checkpoint in run]
        means[checkpoint] = sum(values) / len(values) if values else None
    return {
        **{
            key: winner.get(key)
            for key in ("sweep", "experiment", "rule", "winner", "incumbent", "adopted", "leaderboard")
        },
        "test_accuracy_mean": means,
        "test_metrics": {str(seed): run for seed, run in metrics.items()},
        "leaderboard_rows": winner["rows"],
    }
