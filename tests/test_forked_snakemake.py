"""tests/forked_snakemake.py runs a command as the ``snakemake`` command does, and each command in
a process of its own."""

from __future__ import annotations

import os
import subprocess
import time

import forked_snakemake
import pytest
from conftest import tool

SNAKEFILE = """
rule all:
    input:
        "greeting.txt",


rule greet:
    output:
        "greeting.txt",
    shell:
        "echo ${{GREETING:-nobody}} > {output}"


rule slow:
    output:
        "slow.txt",
    shell:
        "sleep 60 && touch {output}"
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    return tmp_path


def job_stats(output: str) -> str:
    return output[output.index("Job stats:") :].split("\n\n")[0]


def test_a_forked_command_reports_what_the_snakemake_command_reports(workdir):
    for args in (["--cores", "1", "-n"], ["--cores", "1", "nowhere.txt"]):
        forked = forked_snakemake.run(args, workdir)
        command = subprocess.run([tool("snakemake"), *args], cwd=workdir, capture_output=True, text=True)
        assert forked.returncode == command.returncode, (args, forked, command)
        if command.returncode == 0:
            assert job_stats(forked.stdout) == job_stats(command.stdout)
        else:
            error = "MissingRuleException"
            assert error in command.stdout + command.stderr and error in forked.stdout + forked.stderr
    assert not (workdir / "greeting.txt").exists()


def test_each_forked_command_has_its_own_folder_and_environment(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "Snakefile").write_text(SNAKEFILE)
    here = os.getcwd()
    environ = {key: value for key, value in os.environ.items() if key != "GREETING"}
    for folder, env in ((first, dict(environ, GREETING="hello")), (second, environ)):
        proc = forked_snakemake.run(["--cores", "1"], folder, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (first / "greeting.txt").read_text() == "hello\n"
    assert (second / "greeting.txt").read_text() == "nobody\n"
    assert os.getcwd() == here


def test_a_command_past_its_timeout_is_killed_and_the_next_one_runs(workdir):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        forked_snakemake.run(["--cores", "1", "slow.txt"], workdir, timeout=3)
    assert time.monotonic() - started < 30
    assert forked_snakemake.run(["--cores", "1", "-n"], workdir).returncode == 0
