"""How the runner loop reads per-resource results from the file the status module appends to (the
side channel that does not go through ansible-runner's size-limited events)."""

from __future__ import annotations

import json
from pathlib import Path

from hourglass_operator.runner import read_results


def line(name: str, **fields: object) -> str:
    return json.dumps({"namespace": "ns", "name": name, **fields}, ensure_ascii=False) + "\n"


def test_every_line_is_a_result_and_a_later_one_wins(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        line("a", ready=False) + line("b 😀", ready=True) + line("a", ready=True), encoding="utf-8"
    )
    assert read_results(path) == {
        "ns/a": {"namespace": "ns", "name": "a", "ready": True},
        "ns/b 😀": {"namespace": "ns", "name": "b 😀", "ready": True},
    }


def test_a_line_cut_short_is_skipped(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text(line("a") + line("b")[:20], encoding="utf-8")
    assert list(read_results(path)) == ["ns/a"]


def test_no_file_means_no_results(tmp_path: Path):
    assert read_results(tmp_path / "missing.jsonl") == {}
