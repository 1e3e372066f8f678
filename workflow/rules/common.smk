# Helpers shared by every rule: every output path is derived here, in one place.

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

import yaml
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate

# The convnet package's modules, by subpackage (the environment each runs in: docs/architecture.md).
# In a clone or a module given by a local path they are read where they lie; from a git source
# (github(...), gitfile(...)) the source cache fetches them one file at a time, so the list is
# needed (tests/test_module.py checks it against workflow/convnet/).
PACKAGE_MODULES = (
    "__init__",
    "arrays/__init__",
    "arrays/cache",
    "arrays/metrics",
    "arrays/mixing",
    "arrays/photos",
    "core/__init__",
    "core/about",
    "core/config",
    "core/download",
    "core/errors",
    "core/experiments",
    "core/files",
    "core/finish",
    "core/logs",
    "core/records",
    "core/runcard",
    "core/settings",
    "core/sweeps",
    "core/tables",
    "data/__init__",
    "data/archive",
    "data/images",
    "data/prepare",
    "data/split",
    "learn/__init__",
    "learn/augmentation",
    "learn/backend",
    "learn/callbacks",
    "learn/checkpoints",
    "learn/compiling",
    "learn/evaluate",
    "learn/explain",
    "learn/export",
    "learn/model",
    "learn/pipeline",
    "learn/predict",
    "learn/summary",
    "learn/train",
    "predict",
    "report/__init__",
    "report/plots",
)
# Scripts find the package through this variable, set here because every job parses the workflow
# (also on a cluster node); not PYTHONPATH, which Snakemake removes for --use-conda jobs.
PACKAGE_VARIABLE = "CONVNET_WORKFLOW_PACKAGE"


def package_folder():
    """A local folder that holds convnet/: this workflow's own workflow/ folder when its files are
    local (workflow.basedir is the host's folder when this workflow is a module), else a copy
    of the package from the source cache under .snakemake/, named by its content."""
    here = workflow.current_basedir  # workflow/rules/
    if isinstance(here, LocalSourceFile):
        return Path(here.get_path_or_uri(secret_free=True)).parent
    sources = {
        name: Path(workflow.source_path(f"../convnet/{name}.py")).read_bytes()
        for name in PACKAGE_MODULES
    }
    digest = hashlib.sha256(b"".join(sources.values())).hexdigest()[:16]
    folder = Path(".snakemake") / "convnet-package" / digest
    if not (folder / "convnet").is_dir():
        staging = Path(f"{folder}.{os.getpid()}.part")
        (staging / "convnet").mkdir(parents=True, exist_ok=True)
        for name, text in sources.items():
            source = staging / "convnet" / f"{name}.py"
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(text)
        try:
            staging.rename(
                folder
            )  # whole or not at all: jobs parsing at once may race here
        except OSError:
            shutil.rmtree(staging)
    return folder.resolve()


PACKAGE = str(package_folder())
sys.path.insert(0, PACKAGE)
os.environ[PACKAGE_VARIABLE] = PACKAGE

from snakemake.common.configfile import load_configfile

from convnet.core.config import (
    SPLITS,
    check_config,
    check_data_config,
    check_pinned_archive,
    check_predict,
    coerce_cli_strings,
    replace_user_keys,
)
from convnet.core.download import archive_name
from convnet.core.about import write_landing_page
from convnet.core.finish import failure_lines, success_lines
from convnet.core.errors import ConvnetError
from convnet.core.experiments import (
    experiment_names,
    experiment_settings,
    cache_key,
    experiment_seeds,
    architecture_settings,
    check_experiments,
    evaluation_settings,
    model_settings,
    run_settings,
    runs,
)
from convnet.core.sweeps import (
    all_points,
    check_sweeps,
    coerce_grid,
    sweep_names,
    sweep_points,
    sweep_rank,
    with_sweep_points,
)


def host_path(path):
    """``path`` where Snakemake puts this workflow's files: under the host's `prefix:` when this
    workflow is a module. For the paths the rules hand their scripts beside their declared inputs
    and outputs (checkpoints, TensorBoard), and what the config check reads at parse time.
    """
    return workflow.modifier.path_modifier.replace_prefix(path)


RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
DATA = f"{RESULTS}/data"
MANIFEST = f"{DATA}/manifest.csv"
CACHE = f"{RESULTS}/cache"
MODELS = f"{RESULTS}/models"
HISTORY = f"{RESULTS}/history"
CHECKPOINTS = f"{RESULTS}/checkpoints"
TENSORBOARD = f"{RESULTS}/tensorboard"
METRICS = f"{RESULTS}/metrics"
PLOTS = f"{RESULTS}/plots"
WEIGHTS = f"{RESULTS}/weights"
PREDICTIONS = f"{RESULTS}/predictions"
EXPORTS = f"{RESULTS}/exports"
SWEEP_RESULTS = f"{RESULTS}/sweeps"
# how many validation images each export is checked on against the Keras model
EXPORT_CHECK_IMAGES = 64
# The report's landing page about this run, written when a run succeeds (onsuccess).
LANDING_PAGE = f"{RESULTS}/report/workflow.rst"

# Through the source cache: beside this file in a clone, fetched for a git source.
SCHEMA = Path(workflow.source_path("../../config/config.schema.yaml"))
# A class list or mapping from --configfile or --config replaces the default instead of being
# merged into it (Snakemake merges mappings: the book's cats and dogs would stay).
replace_user_keys(
    config,
    [load_configfile(path) for path in workflow.config_settings.configfiles or []]
    + [workflow.config_settings.config or {}],
)
coerce_cli_strings(config, yaml.safe_load(SCHEMA.read_text()))
coerce_grid(config, yaml.safe_load(SCHEMA.read_text()))
try:
    # One line naming the key and the fix (jsonschema's own messages print whole sub-schemas).
    check_config(config, yaml.safe_load(SCHEMA.read_text()))
    check_data_config(config["data"])
    check_predict(config.get("predict") or {})
    check_pinned_archive(config["data"], Path(host_path(DATA)) / "provenance.json")
    check_experiments(config)
    check_sweeps(config, yaml.safe_load(SCHEMA.read_text()))
except ConvnetError as exc:
    raise WorkflowError(f"config: {exc}")
validate(config, str(SCHEMA))  # fills in the schema's defaults

EXPERIMENTS = experiment_names(config)
# Every sweep's grid points: experiments of their own, named by their settings
# (sweeps/{sweep}/{key}~{value}/...), trained and checked by the same rules but left out of rule all
# until their sweep ranks them (rules/sweeps.smk). SETTINGS is the config with them added: what
# the rules read any experiment's settings from.
SWEEPS = sweep_names(config)
POINTS = [point.name for point in all_points(config)]
SETTINGS = with_sweep_points(config)
# a sweep point -> the experiment it starts from
POINT_STARTS = {
    point.name: config["sweeps"][point.sweep]["experiment"]
    for point in all_points(config)
}
# Keras rules: TensorFlow for the CPU, or with NVIDIA's CUDA libraries (compute.accelerator: cuda,
# which the slurm profile sets). A CPU-only user never downloads the CUDA wheels.
TRAIN_ENV = (
    "../../envs/train-cuda.yaml"
    if config["compute"]["accelerator"] == "cuda"
    else "../../envs/train.yaml"
)
# One training run per experiment and seed: its files are named {experiment}/seed{seed}.
RUN = "{experiment}/seed{seed}"
SEEDS = sorted({seed for _, seed in runs(SETTINGS)})


wildcard_constraints:
    experiment="|".join(re.escape(name) for name in EXPERIMENTS + POINTS),
    sweep="|".join(SWEEPS) or "none",
    seed="|".join(str(seed) for seed in SEEDS),
    split="|".join(SPLITS),
    base="|".join((config.get("pretrained") or {}).get("weights") or {}) or "none",
    name="|".join(config["predict"]) or "none",
    size=r"\d+x\d+",
    resize="nearest|bilinear",


def downloaded_archive():
    """Where download_data stores the archive for source url or kaggle."""
    data = config["data"]
    if data["source"] == "kaggle":
        return f"{RESULTS}/downloads/kaggle-{data['kaggle_competition']}.zip"
    return f"{RESULTS}/downloads/{archive_name(data['url'])}"


def source_archive():
    """The archive or folder that split_data reads. A local one is ancient(): copying or touching
    it (same bytes, newer time) must not redo the split and every training run after it.
    Another data.path still does (input trigger), and so does a new data.sha256 (params).
    """
    data = config["data"]
    # local(): the user's path, relative to where Snakemake runs, never under a module's prefix
    return (
        ancient(local(data["path"]))
        if data["source"] == "local"
        else downloaded_archive()
    )


def download_params():
    """What names the archive's bytes: the source and its URL or competition. Retries, timeout and
    the pinned sha256 change no byte, so changing them reruns nothing (download_data reads them
    from the config when it runs)."""
    data = config["data"]
    name = {"url": "url", "kaggle": "kaggle_competition"}.get(data["source"])
    return {"source": data["source"], **({name: data[name]} if name else {})}


def split_params():
    """The data settings that change the split, with the archive's name (a local archive is an
    input instead). Not data.sha256: pinning the hash of the archive already split reruns
    nothing (check_pinned_archive compares it at parse time)."""
    keys = ("layout", "classes", "split", "order", "seed", "require_jfif")
    # (exif_orientation acts when images are decoded: a param of cache_images, not of the split)
    return {**download_params(), **{key: config["data"][key] for key in keys}}


def experiment_params(wildcards):
    """The settings every run of the job's experiment (or sweep point) shares (defaults + its own
    changes)."""
    return model_settings(SETTINGS, wildcards.experiment)


def architecture_params(wildcards):
    """The settings that shape the experiment's model and its check: what model_summary reads."""
    return architecture_settings(SETTINGS, wildcards.experiment)


def model_check(wildcards):
    """Input function: the model check (summary) a run waits for: its experiment's; for a sweep
    point whose grid leaves the model as it is (a learning rate, the epochs), the one of the
    experiment it starts from, so that a sweep checks each model once, not once per point.
    """
    name = wildcards.experiment
    start = POINT_STARTS.get(name)
    if start and architecture_settings(SETTINGS, name) == architecture_settings(
        SETTINGS, start
    ):
        name = start
    return f"{MODELS}/{name}_summary.tsv"


def run_params(wildcards):
    """The settings of one run: its experiment's, with the run's own seed."""
    return run_settings(SETTINGS, wildcards.experiment, int(wildcards.seed))


def evaluation_params(wildcards):
    """What the test-set evaluation of the job's experiment reads (test-time augmentation)."""
    return evaluation_settings(SETTINGS, wildcards.experiment)


def seeds_of_experiment(pattern):
    """Input function: ``pattern`` (with {experiment} and {seed}) for every seed of the job's
    experiment."""

    def paths(wildcards):
        return runs_of(wildcards.experiment, pattern)

    return paths


def runs_of(experiment, pattern):
    """``pattern`` for every seed of ``experiment``."""
    return [
        pattern.format(experiment=experiment, seed=seed)
        for seed in experiment_seeds(SETTINGS, experiment)
    ]


def every_run(pattern):
    """``pattern`` for every run (experiment and seed) in the config."""
    return [path for name in EXPERIMENTS for path in runs_of(name, pattern)]


def every_run_by_experiment(pattern):
    """{experiment: ``pattern`` for each of its seeds}, for scripts that group runs (a param, so
    the paths are placed as Snakemake places the inputs: host_path)."""
    return {
        name: [host_path(path) for path in runs_of(name, pattern)]
        for name in EXPERIMENTS
    }


def named_class_count():
    """How many classes data.classes names (a list or mapping), or None for auto (the split finds
    them)."""
    classes = config["data"]["classes"]
    return None if classes == "auto" else len(classes)


def classes_found_by_split():
    """The split's provenance.json, where the classes are recorded, when only the split knows them
    (data.classes: auto)."""
    return [f"{DATA}/provenance.json"] if named_class_count() is None else []


def base_weights(wildcards):
    """Input function: the pretrained base's weights file of the job's experiment (none without
    a base)."""
    base = experiment_params(wildcards).get("base")
    return [f"{WEIGHTS}/{base['name']}.h5"] if base else []


def init_model(wildcards):
    """Input function: the last-epoch model (same seed) the job's experiment starts from, if it
    names one in init_from: a real dependency between two experiments."""
    start = experiment_params(wildcards).get("init_from")
    return [f"{MODELS}/{start}/seed{wildcards.seed}.h5"] if start else []


def photos_to_predict(wildcards):
    """Input function: the folder or archive the config's predict names ``wildcards.name``."""
    return ancient(
        local(config["predict"][wildcards.name])
    )  # a user's path: see source_archive


def heatmaps_for(sheet):
    """The heatmaps file a sheet draws (a path pattern), when the config's heatmaps is on."""
    return [sheet] if config["heatmaps"] else []


def cache_for(split):
    """Input function: the decoded-image cache of ``split`` at the experiment's image size and
    resize interpolation."""

    def cache_path(wildcards):
        return f"{CACHE}/{cache_key(experiment_params(wildcards))}/{split}.npz"

    return cache_path


def final_targets():
    """Metrics and plots for every experiment and seed in the config, and what the report shows."""
    targets = [
        MANIFEST,
        f"{METRICS}/test_metrics.csv",
        f"{PLOTS}/comparison.png",
        f"{RESULTS}/report/config.yaml",
    ]
    for name in EXPERIMENTS:
        targets += [f"{METRICS}/{name}_summary.csv"]
        targets += [f"{PLOTS}/{name}_{metric}.png" for metric in ("accuracy", "loss")]
    for name, seed in runs(config):
        run = RUN.format(experiment=name, seed=seed)
        targets += [
            f"{MODELS}/{run}{suffix}"
            for suffix in (".h5", "_best.h5", ".keras", "_best.keras")
        ]
        targets += [
            f"{PLOTS}/{run}_{kind}.png" for kind in ("confusion", "per_class", "errors")
        ]
        for name in config["predict"]:
            targets += [f"{PREDICTIONS}/{run}/{name}.{kind}" for kind in ("csv", "png")]
    return targets + sweep_targets()


def sweep_targets():
    """Every sweep's leaderboard and its winner's test result (rules/sweeps.smk)."""
    return [
        f"{SWEEP_RESULTS}/{sweep}/{name}"
        for sweep in SWEEPS
        for name in ("leaderboard.png", "winner_test.json")
    ]


def point_runs(sweep):
    """{point: {seed: its history CSV}} for every run of ``sweep``."""
    return {
        point.name: {
            seed: f"{HISTORY}/{point.name}/seed{seed}.csv"
            for seed in config["sweeps"][sweep]["seeds"]
        }
        for point in sweep_points(config, sweep)
    }


def sweep_histories(wildcards):
    """Input function: the history of every run of the sweep: the leaderboard waits for all."""
    return [
        path for runs in point_runs(wildcards.sweep).values() for path in runs.values()
    ]


def finished_sweep_histories(wildcards):
    """Input function: the sweep's histories that exist now, for the leaderboard so far (a param
    too: when more have finished, it is written again)."""
    return [
        path for path in sweep_histories(wildcards) if Path(host_path(path)).is_file()
    ]


def tested_points(wildcards):
    """The sweep's points other than its winner whose test metrics exist (someone asked for them
    by path): the leaderboard says so beside them. The winner's are read by design, and leaving
    them out keeps this param, and the leaderboard, as they were once the winner is evaluated.
    """
    import json

    record = Path(host_path(f"{SWEEP_RESULTS}/{wildcards.sweep}/winner.json"))
    winner = json.loads(record.read_text()).get("winner") if record.is_file() else None
    return sorted(
        point
        for point, runs in point_runs(wildcards.sweep).items()
        if point != winner
        and any(
            Path(host_path(f"{METRICS}/{point}/seed{seed}.json")).is_file()
            for seed in runs
        )
    )


def sweep_params(wildcards):
    """What a leaderboard is made of: the sweep's spec and its points (name, label, seeds)."""
    spec = config["sweeps"][wildcards.sweep]
    return {
        "spec": spec,
        "incumbent": sweep_rank(config, wildcards.sweep).incumbent,
        "points": [
            {"name": point.name, "label": point.label, "seeds": list(spec["seeds"])}
            for point in sweep_points(config, wildcards.sweep)
        ],
        "histories": {
            point: {str(seed): host_path(path) for seed, path in runs.items()}
            for point, runs in point_runs(wildcards.sweep).items()
        },
    }


def sweep_title(sweep):
    """A leaderboard figure's title: the sweep and its rule."""
    spec = config["sweeps"][sweep]
    return f"sweep {sweep} over {spec['experiment']}: {sweep_rank(config, sweep).describe()}"


def winner_metrics(wildcards):
    """Input function: the test metrics of every run of the sweep's winner, known once its
    leaderboard is complete (a checkpoint): only the winner reads the test set."""
    import json

    record = json.loads(
        Path(
            checkpoints.sweep_leaderboard.get(sweep=wildcards.sweep).output.winner
        ).read_text()
    )
    return [f"{METRICS}/{record['winner']}/seed{seed}.json" for seed in record["seeds"]]


def print_results():
    """onsuccess: the experiments' results as a table on the terminal, and where to look next;
    and the report's landing page about this run."""
    defaults = yaml.safe_load(
        Path(workflow.source_path("../../config/config.yaml")).read_text()
    )  # the book's data settings: the workflow's own defaults
    write_landing_page(
        config,
        defaults["data"],
        Path(host_path(f"{DATA}/provenance.json")),
        {name: Path(host_path(f"{MODELS}/{name}_summary.tsv")) for name in EXPERIMENTS},
        Path(host_path(LANDING_PAGE)),
    )
    lines = success_lines(
        runs(config),
        host_path(f"{HISTORY}/{RUN}.csv"),
        host_path(f"{METRICS}/{RUN}.json"),
        host_path(PLOTS),
    )
    print("\n".join(lines), file=sys.stderr)


def print_failures(snakemake_log):
    """onerror: each failing job's one-line error and its log, after Snakemake's own account."""
    lines = failure_lines(snakemake_log)
    if lines:
        print("\n".join(["", *lines]), file=sys.stderr)


def landing_page():
    """The report's landing page: the one the last successful run wrote about itself, else the
    workflow's general one (a report made before any run)."""
    written = Path(host_path(LANDING_PAGE))
    return str(written.resolve()) if written.is_file() else "report/workflow.rst"
