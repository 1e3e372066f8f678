"""The README is the truth: CI runs exactly the test command it gives."""

from conftest import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    marker = "**Run the tests**:"
    command = readme[readme.index(marker) + len(marker) :].strip().splitlines()[0].strip()
    assert command.startswith("python3 -m venv .venv")
    assert command in (ROOT / ".ci" / "run").read_text()
