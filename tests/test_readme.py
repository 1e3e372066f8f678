"""The README is the truth: CI runs exactly the test command it gives, and its links resolve."""

import re

from conftest import ROOT
from install import readme_test_command


def test_ci_runs_the_readme_test_command():
    command = readme_test_command()
    assert command.startswith("python3 -m venv .venv")
    assert command in (ROOT / ".ci" / "run").read_text()
    # pip bootstraps the uv that requirements-dev.txt pins, so the venv keeps the one it used
    bootstrapped = re.search(r"pip install -q (uv==\S+)", command).group(1)
    assert f"\n{bootstrapped}\n" in (ROOT / "requirements-dev.txt").read_text()
    assert "--python .venv/bin/python" in command, "uv would install into an activated venv instead"


def test_every_relative_link_in_the_docs_points_at_a_file_in_the_repository():
    # The README and docs/results.md show pictures copied out of results/ (git-ignored); a link
    # to a file that was never copied renders as a broken image on GitHub.
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
