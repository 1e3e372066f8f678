"""This workflow used from another one: as a Snakemake module (a local path and a github(...)
source), deployed with snakedeploy, and listed by the workflow catalog."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import forked_snakemake
import pytest
import yaml
from conftest import ROOT, copy_workflow, tool
from synthetic import image_files, write_zip

# What a fresh deployment finds: a name such as snakedeploy and github(...) take.
OWNER_REPO = "convnet/convnet-workflow"
GITHUB_URL = f"https://github.com/{OWNER_REPO}"


def package_modules() -> list[str]:
    """common.smk's PACKAGE_MODULES, read without running Snakemake."""
    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    tuple_text = re.search(r"^PACKAGE_MODULES = (\(.*?\n\))", text, re.M | re.S).group(1)
    return list(ast.literal_eval(tuple_text))


def test_every_module_of_the_package_is_listed_for_git_sources():
    package = ROOT / "workflow" / "convnet"
    on_disk = sorted(str(path.relative_to(package).with_suffix("")) for path in package.rglob("*.py"))
    assert sorted(package_modules()) == on_disk, (
        "workflow/rules/common.smk: PACKAGE_MODULES must list every module of workflow/convnet/ "
        "(a github(...) source fetches only those)"
    )


def test_the_standardized_layout_is_there():
    assert (ROOT / "workflow" / "Snakefile").is_file()
    assert 'include: "workflow/Snakefile"' in (ROOT / "Snakefile").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True
    assert catalog["usage"]["report"] is True
    # profiles/*/profile.yaml is read from Snakemake 9.19 on
    assert list((ROOT / "profiles").glob("*/profile.yaml"))
    assert 'min_version("9.19")' in (ROOT / "workflow" / "Snakefile").read_text()


HOST_SNAKEFILE = """\
configfile: "config/config.yaml"
configfile: "tiny-config.yaml"


module convnet:
    snakefile:
        {snakefile}
    config:
        config
    prefix:
        "convnet"


use rule * from convnet as convnet_*


# For the test: the rules a cluster run keeps on the submitting machine (Workflow.is_local without
# its "everything runs here" shortcut, which also holds for any dry run).
with open("local-rules.txt", "w") as listing:
    print(*sorted(r.name for r in workflow.rules if r.name in workflow._localrules), file=listing)


rule all:
    default_target: True
    input:
        rules.convnet_all.input,
"""


def host_workflow(folder: Path, snakefile: str) -> Path:
    """A host workflow in ``folder`` that uses this one as module convnet under prefix convnet/,
    with its own copy of the config and the tiny test config, and data served from a file URL."""
    (folder / "clone").mkdir(parents=True)
    copy_workflow(folder / "clone")
    (folder / "config").mkdir()
    (folder / "config" / "config.yaml").write_text((ROOT / "config" / "config.yaml").read_text())
    archive = write_zip(folder / "pets.zip", image_files("kaggle", 30))
    tiny = yaml.safe_load((ROOT / "tests" / "tiny-config.yaml").read_text())
    tiny["data"].update(source="url", url=archive.as_uri())
    (folder / "tiny-config.yaml").write_text(yaml.safe_dump(tiny))
    (folder / "Snakefile").write_text(HOST_SNAKEFILE.format(snakefile=snakefile))
    return folder


def run(folder: Path, *args, env=None) -> subprocess.CompletedProcess:
    proc = forked_snakemake.run(["--cores", "2", *args], folder, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_a_host_workflow_runs_it_as_a_module_under_its_prefix(tmp_path):
    host = host_workflow(tmp_path / "host", '"clone/workflow/Snakefile"')
    # a cluster keeps the downloads on the submitting machine, also under the host's rule names
    run(host, "-n")
    local = (host / "local-rules.txt").read_text().split()
    assert "convnet_download_data" in local and "convnet_download_weights" in local
    assert "convnet_train" not in local and "convnet_split_data" not in local
    # every step of one experiment, each a rule of the module (the other experiment's jobs are
    # the same rules again)
    targets = [
        f"convnet/results/{path}"
        for path in (
            "plots/baseline/seed1_confusion.png",
            "plots/baseline/seed1_errors.png",
            "plots/baseline_loss.png",
            "metrics/baseline_summary.csv",
            "report/config.yaml",
        )
    ]
    out = run(host, *targets).stdout
    assert "ModuleNotFoundError" not in out
    results = host / "convnet" / "results"
    for path in (
        "downloads/pets.zip",
        "data/manifest.csv",
        "models/baseline/seed1.h5",
        "metrics/baseline/seed1.json",
    ):
        assert (results / path).is_file(), path
    for target in targets:
        assert (host / target).is_file(), target
    # a folder the rule hands its script beside its outputs
    assert list((results / "tensorboard" / "baseline" / "seed1").glob("train/events.*"))
    assert not (host / "results").exists(), "every file of the module belongs under its prefix"
    assert "Nothing to be done" in run(host, "-n", *targets).stdout  # and it stays done


def bare_clone_of_this_commit(target: Path) -> str:
    """A bare git repository of this checkout's HEAD plus its uncommitted changes, as GitHub
    would serve a pushed commit; returns the commit."""
    work = target.parent / "work"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    for item in ("Snakefile", "workflow", "config", "envs", "profiles"):
        shutil.rmtree(work / item) if (work / item).is_dir() else (work / item).unlink()
    copy_workflow(work)
    for item in ("LICENSE", ".snakemake-workflow-catalog.yml"):
        shutil.copy2(ROOT / item, work / item)
    git = ["git", "-C", str(work), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "the tested tree"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(target)], check=True)
    return commit.stdout.strip()


@pytest.fixture
def github_served_locally(tmp_path):
    """git and Snakemake's source cache fetch GITHUB_URL from a local bare repository (git's
    url.<base>.insteadOf), with their caches in tmp_path: (environment, commit)."""
    repository = tmp_path / "served" / "convnet-workflow.git"
    commit = bare_clone_of_this_commit(repository)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f'[url "{repository}"]\n\tinsteadOf = {GITHUB_URL}\n')
    env = dict(os.environ, GIT_CONFIG_GLOBAL=str(gitconfig), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return env, commit


@pytest.mark.slow
def test_a_github_source_finds_the_package_through_the_source_cache(tmp_path, github_served_locally):
    env, commit = github_served_locally
    host = host_workflow(
        tmp_path / "host", f'github("{OWNER_REPO}", path="workflow/Snakefile", commit="{commit}")'
    )
    # the split's script imports the package (what a training's script does too, at more cost)
    run(host, "convnet/results/data/manifest.csv", env=env)
    assert (host / "convnet" / "results" / "data" / "manifest.csv").is_file()
    copies = list((host / ".snakemake" / "convnet-package").glob("*/convnet/learn/train.py"))
    assert len(copies) == 1, "the scripts import one copy of the package from the source cache"


@pytest.mark.slow
def test_snakedeploy_deploys_a_workflow_that_plans(tmp_path, github_served_locally):
    env, _ = github_served_locally
    target = tmp_path / "deployed"
    proc = subprocess.run(
        [tool("snakedeploy"), "deploy-workflow", GITHUB_URL, str(target), "--branch", "main"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    snakefile = (target / "workflow" / "Snakefile").read_text()
    assert f'github("{OWNER_REPO}", path="workflow/Snakefile", branch="main")' in snakefile
    assert (target / "LICENSE").is_file() and (target / "config" / "config.yaml").is_file()
    archive = write_zip(target / "pets.zip", image_files("kaggle", 4))
    out = run(target, "-n", "--config", f"data={{source: local, path: {archive.name}}}", env=env).stdout
    assert re.search(r"^train\s+2$", out, re.M), out[-2000:]
