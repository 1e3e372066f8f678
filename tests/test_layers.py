"""The code's layers match its environments (docs/architecture.md): what the Snakefile imports at
parse time needs only Snakemake (PyYAML, jsonschema); tables and histories need neither Keras nor
matplotlib; Keras lives where models are built, trained and evaluated, matplotlib in plotting."""

from __future__ import annotations

import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT, copy_workflow
from synthetic import image_files, write_zip

HEAVY = ("keras", "tensorflow", "matplotlib", "numpy", "PIL", "pandas", "h5py", "scipy", "jax", "torch")
BLOCKER = f"""
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError(f"{{name}} is not in this layer's environment")
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, {str(ROOT / "workflow")!r})
"""
# module -> what it may import besides the standard library (and the modules listed here)
LIGHT_MODULES = {
    "convnet.config": "parse time (common.smk)",
    "convnet.experiments": "parse time (common.smk)",
    "convnet.download": "parse time (common.smk) and the download rule",
    "convnet.errors": "everywhere",
    "convnet.settings": "parse time and every layer",
    "convnet.files": "every writer",
    "convnet.logs": "every script",
    "convnet.records": "tables, histories, plots",
    "convnet.tables": "metrics_table, experiment_summary (envs/tables.yaml)",
    "convnet.results": "python -m convnet.results",
    "convnet.runcard": "the run card's one reader: predictions' contact sheets (envs/plots.yaml), tables",
}


@pytest.mark.parametrize("module", sorted(LIGHT_MODULES))
def test_light_modules_import_without_keras_matplotlib_numpy_or_pillow(module):
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER + f"import {module}"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_keras_and_matplotlib_stay_in_their_modules():
    """Keras only where models are built, trained, loaded or evaluated; matplotlib only in plots."""
    allowed = {
        "keras": {
            "augmentation",
            "model",
            "train",
            "callbacks",
            "checkpoints",
            "compiling",
            "export",
            "evaluate",
            "backend",
            "batch_norm",
            "pipeline",
            "summary",
            "predict",
            "runcard",
        },
        "matplotlib": {"plots"},
    }
    for path in sorted((ROOT / "workflow" / "convnet").glob("*.py")):
        text = path.read_text()
        for package, modules in allowed.items():
            if re.search(rf"^\s*(import|from) {package}\b", text, re.M):
                assert path.stem in modules, f"{path.name} imports {package}"


@pytest.fixture(scope="module")
def snakemake_only(tmp_path_factory) -> Path:
    """A fresh venv with only the pinned snakemake, as `conda create -n snakemake snakemake` gives
    a --use-conda user."""
    pin = next(
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("snakemake==")
    )
    env = tmp_path_factory.mktemp("snakemake-only") / "venv"
    # no pip of its own (nor its bootstrap): the tests' uv (requirements-dev.txt) installs into it
    venv.create(env, with_pip=False)
    uv = Path(sys.executable).parent / "uv"
    proc = subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(env / "bin" / "python"), "--compile-bytecode", pin],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"uv pip install {pin} failed:\n{proc.stderr[-2000:]}")
    return env / "bin" / "snakemake"


@pytest.mark.slow
@pytest.mark.xdist_group("snakemake-only")  # one worker builds the venv once
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--config", "data={source: local, path: pets.zip}"],
        ["--config", "data={source: local, path: pets.zip}", "experiment_defaults={seeds: [1, 2, 3]}"],
        ["--configfile", "config/ablation.yaml", "--config", "data={source: local, path: pets.zip}"],
        ["--lint"],
    ],
    ids=["default", "local-data", "three-seeds", "ablation", "lint"],
)
def test_the_workflow_plans_in_an_environment_with_only_snakemake(snakemake_only, tmp_path, args):
    workdir = copy_workflow(tmp_path)
    write_zip(workdir / "pets.zip", image_files("kaggle", 4))
    dry = [] if "--lint" in args else ["-n"]
    proc = subprocess.run(
        [str(snakemake_only), "--cores", "4", *dry, *args], cwd=workdir, capture_output=True, text=True
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "ModuleNotFoundError" not in output and "ImportError" not in output
    if not dry:
        assert "Congratulations" in output
    else:
        assert "train" in output
