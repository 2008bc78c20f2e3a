"""The version is written once, in ``connector.json`` (where hosts read it): the build and
``nexla_procurify.__version__`` read it from there, no other file of the package or the project
writes it, and the newest heading of ``CHANGELOG.md`` names it."""

from __future__ import annotations

import re
import tomllib

from shared import REPO

import nexla_procurify

# Files that may hold the version's text: where it is written, and the changelog's heading.
ALLOWED = {"connector.json", "CHANGELOG.md"}


def test_the_build_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "connector.json"


def test_no_other_file_writes_the_version() -> None:
    literal = re.compile(r"(?<![\w.])" + re.escape(nexla_procurify.__version__) + r"(?![\w.])")
    candidates = [REPO / "pyproject.toml", REPO / "README.md", *REPO.glob("*.json")]
    for folder in ("nexla_procurify", "tools", "benchmarks"):
        candidates += (REPO / folder).rglob("*.py")
    holding = {
        path.relative_to(REPO).as_posix()
        for path in [*candidates, REPO / "CHANGELOG.md"]
        if literal.search(path.read_text(encoding="utf-8"))
    }
    assert "connector.json" in holding
    assert holding <= ALLOWED, holding - ALLOWED


def test_the_changelog_names_the_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    released = [name for name in headings if name.lower() != "unreleased"]
    assert released, "CHANGELOG.md has no version heading"
    assert released[0] == nexla_procurify.__version__
