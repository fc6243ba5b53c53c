"""`hourglass-executor --version`, the version in `run`'s first line, and `run` ending in one log line
(never a traceback) when something unexpected fails."""

from __future__ import annotations

import json

import pytest
import yaml
from hourglass_executor import __version__, cli
from hourglass_executor.server import app

from tests.support.executor_harness import config_data

pytestmark = pytest.mark.unit


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"hourglass-executor {__version__}\n"
    assert __version__ and __version__[0].isdigit()


def test_an_unexpected_error_is_one_json_line_with_the_version_logged_first(
    tmp_path, capsys, monkeypatch, restore_logging
):
    async def broken(self):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(app.Executor, "serve", broken)
    path = tmp_path / "executor.yaml"
    path.write_text(yaml.safe_dump(config_data()))
    assert cli.main(["run", "--config", str(path)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]  # all JSON: no traceback
    assert [(line["msg"], line.get("version")) for line in lines] == [
        ("starting", __version__),
        ("stopped by an unexpected error", None),
    ]
    assert lines[1]["reason"] == "RuntimeError: something nobody expected" and "error" not in lines[1]
