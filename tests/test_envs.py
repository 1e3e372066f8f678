"""The conda env files must name the same versions as requirements.txt (conda itself cannot run here)."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def pins(lines) -> dict[str, str]:
    """name -> version of each ``name==version`` line (an environment marker after ``;`` aside)."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;]+)", line)
        if match:
            found[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return found


# requirements.txt: the pins of requirements-base.txt and TensorFlow's CPU build; the export's on top
RUNTIME = ("requirements-base.txt", "requirements.txt", "requirements-export.txt")
REQUIREMENTS = {
    name: version
    for file in RUNTIME
    for name, version in pins((ROOT / file).read_text().splitlines()).items()
}


def requirement_lines(file: str) -> list[str]:
    lines = [ln.split("#")[0].strip() for ln in (ROOT / file).read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("-r ")]


@pytest.mark.parametrize("file", [*RUNTIME, "requirements-cuda.txt"])
def test_requirements_pin_every_package_exactly(file):
    lines = requirement_lines(file)
    assert len(lines) == len({ln.split(";")[0] for ln in lines}) and all("==" in ln for ln in lines), (
        f"{file}: every requirement needs an exact == pin"
    )


def test_cpu_installs_get_tensorflows_cpu_build_where_pypi_has_one():
    """requirements.txt and envs/train.yaml name tensorflow-cpu on Linux and Windows x86_64, the
    tensorflow package (the CPU build there) elsewhere, with the same markers."""
    tensorflow = [ln for ln in requirement_lines("requirements.txt") if ln.startswith("tensorflow")]
    assert [ln.split("==")[0] for ln in tensorflow] == ["tensorflow-cpu", "tensorflow"]
    assert REQUIREMENTS["tensorflow-cpu"] == REQUIREMENTS["tensorflow"]
    env = yaml.safe_load((ROOT / "envs" / "train.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [ln for ln in pip if ln.startswith("tensorflow")] == tensorflow
    from packaging.markers import Marker

    markers = [Marker(ln.split(";", 1)[1]) for ln in tensorflow]
    for platform, machine, cpu_build in [
        ("linux", "x86_64", True),
        ("win32", "AMD64", True),
        ("darwin", "arm64", False),
        ("darwin", "x86_64", False),
        ("linux", "aarch64", False),
    ]:
        chosen = [m.evaluate({"sys_platform": platform, "platform_machine": machine}) for m in markers]
        assert chosen == [cpu_build, not cpu_build], (platform, machine)


def test_there_are_env_files():
    assert ENV_FILES


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_file_parses_and_agrees_with_requirements(env_file):
    env = yaml.safe_load(env_file.read_text())
    assert set(env) >= {"channels", "dependencies"}
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_lists = [d["pip"] for d in deps if isinstance(d, dict)]
    assert len(pip_lists) == 1
    listed = pins(pip_lists[0])
    assert len(listed) == len(pip_lists[0]), f"{env_file.name}: every pip entry needs an exact == pin"
    for name, version in listed.items():
        assert REQUIREMENTS.get(name) == version, (
            f"{env_file.name}: {name}=={version} but requirements.txt has {REQUIREMENTS.get(name)}"
        )


def test_the_envs_with_tensorflow_pin_the_ml_dtypes_it_imports():
    # TensorFlow's own dependency, pinned for the time every model job takes to start
    # (benchmarks/job_start.py): an env without the pin would get whatever pip picks
    for env_file in ENV_FILES:
        env = yaml.safe_load(env_file.read_text())
        listed = pins(next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)))
        if "tensorflow" in listed:
            assert listed.get("ml-dtypes") == REQUIREMENTS["ml-dtypes"], env_file.name


def test_every_rule_names_an_existing_env_file():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name}: {env} missing"


def used_env_files(workdir, *args) -> set[str]:
    """The env files the workflow would build, as `snakemake --containerize` hashes them (it needs
    no conda for that; it fails only afterwards, asking conda for its version)."""
    import subprocess

    from conftest import tool

    proc = subprocess.run(
        [tool("snakemake"), "--containerize", *args], cwd=workdir, capture_output=True, text=True
    )
    return set(re.findall(r"Hashing conda environment envs/(\S+)\.yaml", proc.stdout + proc.stderr))


@pytest.mark.slow
def test_a_cpu_user_never_gets_the_cuda_env_and_the_slurm_profile_selects_it(workdir):
    cpu = used_env_files(workdir)
    assert "train" in cpu and "train-cuda" not in cpu
    cluster = used_env_files(workdir, "--profile", "profiles/slurm")
    assert "train-cuda" in cluster and "train" not in cluster
    chosen = used_env_files(workdir, "--config", "compute={accelerator: cuda}")
    assert "train-cuda" in chosen and "train" not in chosen


def test_the_cuda_variants_pin_the_same_versions():
    cuda = pins((ROOT / "requirements-cuda.txt").read_text().splitlines())
    assert cuda == {"tensorflow": REQUIREMENTS["tensorflow"]}
    assert "tensorflow[and-cuda]==" in (ROOT / "requirements-cuda.txt").read_text()
    env = yaml.safe_load((ROOT / "envs" / "train-cuda.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"tensorflow[and-cuda]=={REQUIREMENTS['tensorflow']}" in pip
    cpu = yaml.safe_load((ROOT / "envs" / "train.yaml").read_text())
    cpu_pip = next(d["pip"] for d in cpu["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if not p.startswith("tensorflow[")) == sorted(
        p for p in cpu_pip if not p.startswith(("tensorflow==", "tensorflow-cpu=="))
    )


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path):
    """The suite's shared runs (the fault suite's reference, the recipe's straight run, a venv with
    only Snakemake) are session fixtures of an xdist_group: made once only if --dist loadgroup
    (pyproject.toml) keeps a group on one worker, which some pytest releases silently break."""
    import subprocess
    import sys

    (tmp_path / "test_group.py").write_text(
        "import os, pytest\n"
        "@pytest.mark.parametrize('i', range(4))\n"
        "@pytest.mark.xdist_group('shared')\n"
        "def test_member(i):\n"
        "    print('worker', os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --dist loadgroup\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-rA", "-p", "no:cacheprovider", "test_group.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    workers = set(re.findall(r"^worker (gw\d+)$", proc.stdout, re.M))
    assert len(workers) == 1, proc.stdout[-2000:]
