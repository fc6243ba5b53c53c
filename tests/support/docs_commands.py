"""The command blocks of the user documentation that tests run: fenced blocks whose info string is
`sh test` (the README's main path) or `sh test=<group>` (a path of its own, e.g. `kustomize`).
tests/cluster/test_docs_commands.py runs them against the cluster; tests/unit/test_docs.py checks
that every shell block of the README is marked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\S*)(?:[ \t]+(.*))?$")
MARK = re.compile(r"test(?:=([a-z0-9-]+))?")
SHELLS = {"sh", "bash", "shell", "console"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    marks: str  # the info string after the language
    text: str

    @property
    def group(self) -> str | None:
        """ "" for `sh test`, the name for `sh test=<name>`, None for an unmarked block."""
        match = MARK.fullmatch(self.marks.strip())
        return None if match is None else (match.group(1) or "")

    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    blocks, current, body = [], None, []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = FENCE.match(line)
        if current is None and match and match.group(1):
            current, body = (number, match.group(1), match.group(2) or ""), []
        elif current is not None and line.strip() == "```":
            blocks.append(Block(path, current[0], current[1], current[2], "\n".join(body) + "\n"))
            current = None
        elif current is not None:
            body.append(line)
    return blocks


def shell_blocks(path: Path) -> list[Block]:
    return [b for b in fenced_blocks(path) if b.language in SHELLS]


def marked(path: Path, group: str) -> list[Block]:
    """The blocks of one group, in document order."""
    return [b for b in shell_blocks(path) if b.group == group]
