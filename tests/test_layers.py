"""The code's layers match its environments (docs/architecture.md), and an import says which: each
subpackage of convnet (core, data, arrays, learn, report) imports only what its environment has and
the subpackages below it. What the Snakefile imports at parse time needs only Snakemake."""

from __future__ import annotations

import ast
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
# Each subpackage of convnet is the environment its code runs in (docs/architecture.md): the third-party
# packages it may import, and the subpackages below it that it may use.
LAYERS = {
    "core": (set(), set()),  # parse time (PyYAML, jsonschema) and every job: the standard library
    "data": ({"PIL"}, {"core"}),
    "arrays": ({"numpy", "PIL"}, {"core", "data"}),
    # the Keras backends; and the export rule's own packages (envs/export.yaml), imported where used
    "learn": (
        {
            "keras",
            "tensorflow",
            "jax",
            "torch",
            "numpy",
            "h5py",
            "PIL",
            "onnx",
            "onnxruntime",
            "ai_edge_litert",
        },
        {"core", "data", "arrays"},
    ),
    "report": ({"matplotlib", "pandas", "numpy", "PIL"}, {"core", "data", "arrays"}),
}
# what core may import beyond the standard library: the config's checks at parse time, and the run
# card's .h5 attribute where it is read (a function's own import)
CORE_EXTRAS = {"yaml", "jsonschema", "h5py"}
PACKAGE = ROOT / "workflow" / "convnet"


def imports(path: Path) -> tuple[set[str], set[str]]:
    """The third-party top-level packages and the convnet subpackages a module imports."""
    tree = ast.parse(path.read_text())
    layer = path.parent.name
    outside, inside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            outside |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                outside.add(node.module.split(".")[0])
            elif node.level == 1:
                inside.add(layer)
            else:
                inside.add(node.module.split(".")[0])
    return outside - set(sys.stdlib_module_names) - {"convnet"}, inside


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_subpackage_imports_only_what_its_environment_has(layer):
    packages, below = LAYERS[layer]
    if layer == "core":
        packages = CORE_EXTRAS
    wrong = []
    for path in modules_of(layer):
        outside, inside = imports(path)
        if outside - packages:
            wrong.append(f"{path.relative_to(ROOT)} imports {sorted(outside - packages)}")
        if inside - below - {layer}:
            wrong.append(f"{path.relative_to(ROOT)} imports convnet.{sorted(inside - below - {layer})}")
    assert not wrong, "\n".join(wrong)
    assert sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")) == sorted(LAYERS)


@pytest.mark.parametrize("module", sorted(p.stem for p in modules_of("core")))
def test_core_imports_without_keras_matplotlib_numpy_or_pillow(module):
    """What Snakemake imports at parse time, in an environment with only Snakemake."""
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER + f"import convnet.core.{module}"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_data_jobs_import_without_numpy():
    """envs/data.yaml has Pillow and PyYAML only."""
    modules = "; ".join(f"import convnet.data.{p.stem}" for p in modules_of("data"))
    blocker = BLOCKER.replace("'PIL', ", "")
    proc = subprocess.run([sys.executable, "-c", blocker + modules], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def snakemake_only(tmp_path_factory) -> Path:
    """A fresh venv with only the pinned snakemake, as `conda create -n snakemake snakemake` gives
    a --use-conda user."""
    pin = next(
        line.strip()
        for line in (ROOT / "requirements-base.txt").read_text().splitlines()
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
