"""The user documentation: every shell block of the README is run by
tests/cluster/test_docs_commands.py (marked `sh test` or `sh test=<group>`, and its group is one
that test runs), and no document links outside the repository or to a file that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.docs_commands import fenced_blocks, shell_blocks
from tests.support.paths import REPO

pytestmark = pytest.mark.unit

README = REPO / "README.md"
# The groups tests/cluster/test_docs_commands.py runs.
RUN_GROUPS = {"", "troubleshooting", "uninstall", "kustomize", "ansible"}
DOCS = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "CHANGELOG.md", REPO / "SECURITY.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_shell_block_of_the_readme_is_run_by_a_test():
    blocks = shell_blocks(README)
    assert blocks, "the README has no command blocks"
    unmarked = [b.where() for b in blocks if b.group is None]
    assert not unmarked, f"shell blocks not run by tests/cluster/test_docs_commands.py: {unmarked}"
    unknown = [f"{b.where()} (test={b.group})" for b in blocks if b.group not in RUN_GROUPS]
    assert not unknown, f"blocks of groups no test runs: {unknown}"


def test_the_readme_walks_the_user_path_in_order():
    headings = [line[3:] for line in README.read_text().splitlines() if line.startswith("## ")]
    assert headings[:7] == [
        "Install",
        "Your first Performer",
        "Deploy an executor",
        "Upgrade",
        "Uninstall",
        "Troubleshooting",
        "More",
    ]


def test_the_extractor_reads_marks_and_ignores_other_fences(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh test\na\n```\n\n```yaml\nb: 1\n```\n```sh test=kustomize\nc\nd\n```\n```sh\ne\n```\n"
    )
    blocks = fenced_blocks(doc)
    assert [(b.language, b.group, b.text, b.line) for b in blocks] == [
        ("sh", "", "a\n", 1),
        ("yaml", None, "b: 1\n", 5),
        ("sh", "kustomize", "c\nd\n", 8),
        ("sh", None, "e\n", 12),
    ]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_links_stay_inside_the_repository_and_resolve(doc: Path):
    for target in LINK.findall(doc.read_text()):
        assert "://" not in target and not target.startswith("mailto:"), f"{doc.name} links outside: {target}"
        path = target.split("#")[0]
        if path:
            assert (doc.parent / path).exists(), f"{doc.name} links to a missing file: {target}"
