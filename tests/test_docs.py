"""Docs that cannot drift: every output path the README's and the guide's tables name is one a rule
writes, and every Snakemake command the README and docs/*.md give plans (``-n``) as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import forked_snakemake
import pytest
from conftest import ROOT
from synthetic import class_folders

PAGES = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNAKEMAKE = re.compile(r"^(?:\.venv/bin/)?snakemake(?:\s|$)")


def outputs_table(page: str) -> list[str]:
    """The paths in the first column of the "## Outputs" table of ``page``."""
    text = (ROOT / page).read_text()
    section = text[text.index("\n## Outputs\n") :]
    section = section[: section.index("\n## ", 1)]
    paths = []
    for row in section.splitlines():
        if row.startswith("| `"):
            for path in re.findall(r"`([^`]+)`", row.split("|")[1]):
                # `results/models/{experiment}/seed{N}.h5`, `seed{N}_best.h5`: a name in the same folder
                paths.append(path if "/" in path else f"{paths[-1].rsplit('/', 1)[0]}/{path}")
    return paths


def expand(path: str) -> list[str]:
    """A documented path as concrete paths: ``{a,b}`` gives one path each (as bash expands it),
    and a placeholder (``{experiment}``, ``{N}``) an arbitrary name."""
    match = re.search(r"\{([^{}]*)\}", path)
    if match is None:
        return [path]
    choices = match.group(1).split(",") if "," in match.group(1) else ["x1"]
    return [p for choice in choices for p in expand(path[: match.start()] + choice + path[match.end() :])]


def rule_paths(workdir: Path) -> list[tuple[str, re.Pattern, bool]]:
    """Every rule's output, log, benchmark and path params (checkpoints, TensorBoard) as (rule,
    pattern, is a folder), read from the workflow as Snakemake parses it."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DeploymentSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )

    found = []
    # the parsed workflow's rules: WorkflowApi._workflow is private, but Snakemake is pinned
    # (requirements.txt) and no public call lists a rule's outputs
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            # the pretrained overlay: the weights download's rule has a target too
            config_settings=ConfigSettings(configfiles=[workdir / "config" / "pretrained.yaml"]),
            storage_settings=StorageSettings(),
            workflow_settings=WorkflowSettings(),
            deployment_settings=DeploymentSettings(),
            snakefile=workdir / "Snakefile",
            workdir=workdir,
        )._workflow
        for rule in workflow.rules:
            files = [*rule.output, *rule.log, *([rule.benchmark] if rule.benchmark else [])]
            params = [
                value for value in rule.params if isinstance(value, str) and value.startswith("results/")
            ]
            for path in [*files, *params]:
                pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(str(path)))
                folder = path in params or getattr(path, "is_directory", False)
                found.append((rule.name, re.compile(pattern), folder))
    return found


@pytest.mark.parametrize("page, rows", [("README.md", 6), ("docs/guide.md", 15)])
def test_every_path_in_an_outputs_table_is_one_a_rule_writes(workdir: Path, page: str, rows: int):
    rules = rule_paths(workdir)
    documented = outputs_table(page)
    assert len(documented) > rows, documented  # the table was found
    unknown = []
    for entry in documented:
        for path in expand(entry):
            if path.endswith("/"):  # a folder a rule writes, one inside it, or one that holds rules' files
                ok = any(
                    (is_folder and pattern.match(path))
                    or pattern.fullmatch(path.rstrip("/"))
                    or pattern.pattern.startswith(re.escape(path))
                    for _, pattern, is_folder in rules
                )
            else:
                ok = any(pattern.fullmatch(path) for _, pattern, _ in rules)
            if not ok:
                unknown.append(f"{entry} ({path})")
    assert not unknown, f"{page}'s outputs table names paths no rule writes: {unknown}"


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for each Snakemake command in the docs: code blocks (backslash
    continuations joined, and the last step of a ``... && .venv/bin/snakemake ...`` chain) and
    inline code."""
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        name = str(page.relative_to(ROOT))
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not line.startswith("    "):
                for span in re.findall(r"`([^`]+)`", line):
                    if SNAKEMAKE.match(span):
                        found.append((name, span))
                continue
            command = line.strip()
            while command.endswith("\\") and index < len(lines):
                command = command[:-1].rstrip() + " " + lines[index].strip()
                index += 1
            command = command.split(" && ")[-1]
            if SNAKEMAKE.match(command):
                found.append((name, command))
    return found


# What a dry run cannot check: a report is made from a finished run's outputs (tests/
# test_workflow_e2e.py makes one).
NOT_A_PLAN = ("--report",)


def as_dry_run(command: str, archive: Path, photos: Path) -> list[str]:
    """Snakemake's arguments for the documented command as a dry run on this machine: `-n` added,
    `--use-conda` left out (conda cannot run here; its env files are checked by
    tests/test_envs.py), and every data path and predict folder pointing at tiny synthetic
    photos."""
    command = re.sub(r"((?:^|[{,]\s*)path:\s*)[^,}\s']+", rf"\g<1>{archive}", command)
    command = re.sub(r"(predict=\{\s*\w+:\s*)[^,}\s']+", rf"\g<1>{photos}", command)
    words = []
    for word in shlex.split(command)[1:]:
        if word == "--use-conda":
            continue
        # bash's brace expansion of targets (`results/metrics/ablation_{shear,resize}/seed1.json`);
        # a quoted --config value has spaces and stays as it is
        words += expand(word) if " " not in word else [word]
    return ["-n", *words]


def test_the_docs_name_their_snakemake_commands():
    commands = documented_commands()
    pages = {page for page, _ in commands}
    assert {"README.md", "docs/guide.md", "docs/results.md", "config/README.md"} <= pages, pages
    assert any("--profile profiles/slurm" in command for _, command in commands)


@pytest.mark.slow
def test_every_snakemake_command_in_the_docs_plans(workdir: Path):
    photos = workdir / "photos"
    for relative, data in class_folders({"cats": 4, "dogs": 4}, root="photos").items():
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relative).write_bytes(data)
    failures = []
    pages: dict[str, list[str]] = {}  # a command given on several pages is planned once
    for page, command in documented_commands():
        pages.setdefault(command, []).append(page)
    for command, where in pages.items():
        page = ", ".join(dict.fromkeys(where))
        if any(flag in command for flag in NOT_A_PLAN):
            continue
        run = forked_snakemake.run(as_dry_run(command, photos, photos), workdir, timeout=120)
        if run.returncode != 0:
            failures.append(f"{page}: {command}\n{(run.stdout + run.stderr).strip()[-600:]}")
    assert not failures, "\n\n".join(failures)
