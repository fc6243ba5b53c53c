"""How the runner loop reads per-resource results from the file the status module appends to (the
side channel that does not go through ansible-runner's size-limited events), what it reads from a
run's events, and what one run hands ansible-runner."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hourglass_operator import runner
from hourglass_operator.runner import RESULTS_VAR, WORK_WAITING_VAR
from hourglass_operator.runs import ResultsTail, read_results, summarize_events
from hourglass_operator.warm_ansible import SOCKET_ENV
from tests.support.paths import REPO
from tests.support.waiting import wait_for


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


def test_an_entry_holding_unicode_line_separators_is_one_line(tmp_path: Path):
    """The entry is written with them unescaped (a webhook's refusal quoting an image name the CRD
    admits, which may hold them); only "\n" ends a line."""
    error = "denied: image ghcr.io/x/y:1\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c\r is not allowed"
    path = tmp_path / "results.jsonl"
    path.write_text(line("a", error=error) + line("b"), encoding="utf-8")
    assert read_results(path) == {
        "ns/a": {"namespace": "ns", "name": "a", "error": error},
        "ns/b": {"namespace": "ns", "name": "b"},
    }


def test_no_file_means_no_results(tmp_path: Path):
    assert read_results(tmp_path / "missing.jsonl") == {}


def event(kind: str, task: str = "t", **data: object) -> dict:
    return {"event": kind, "event_data": {"task": task, **data}}


def test_a_successful_run_counts_its_module_calls():
    events = [
        event("playbook_on_start"),
        event("runner_on_ok"),
        event("runner_on_skipped"),
        event("runner_on_ok"),
    ]
    result = summarize_events("successful", 0, events)
    assert (result.ok, result.failure, result.module_calls) == (True, None, 2)


def test_a_failed_run_names_the_last_failing_task_not_an_ignored_one():
    events = [
        event("runner_on_failed", "apply", res={"msg": "forbidden"}),
        event("runner_on_failed", "probe", ignore_errors=True, res={"msg": "ignored"}),
        event("runner_on_ok"),
    ]
    result = summarize_events("failed", 2, events)
    assert (result.ok, result.failure, result.module_calls) == (False, "apply: forbidden", 3)


def test_a_run_that_failed_without_a_failing_task_says_how_it_ended():
    assert summarize_events("canceled", 254, []).failure == "ansible-runner ended canceled (rc 254)"
    assert summarize_events("failed", 2, [event("runner_on_failed", res={})]).failure == "t: failed"


def test_a_run_writes_unsafe_extra_vars_reads_the_results_file_and_cleans_up(tmp_path: Path, monkeypatch):
    seen = {}

    finished = SimpleNamespace(
        status="failed",
        rc=2,
        events=[event("runner_on_ok"), event("runner_on_failed", "status", res={"msg": "boom"})],
    )

    def fake_run(**kwargs):
        data_dir = Path(kwargs["private_data_dir"])
        extravars = json.loads((data_dir / "env" / "extravars").read_text())
        seen.update(kwargs, extravars=extravars, playbook_text=Path(kwargs["playbook"]).read_text())
        Path(extravars[RESULTS_VAR]["__ansible_unsafe"]).write_text(line("a", ready=True))
        return finished

    monkeypatch.setattr(runner.ansible_runner, "run", fake_run)
    batch_runner = runner.AnsibleBatchRunner(tmp_path / "content", tmp_path / "work", kubeconfig="/kc")
    result = batch_runner.run(
        {"performers": [{"image": "{{ lookup('pipe', 'id') }}"}]},
        role=Path("/content/roles/performer"), playbook=None, cancel=threading.Event(), reconcile_id="r1",
    )  # fmt: skip
    assert seen["extravars"]["performers"] == [{"image": {"__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}}]
    assert "role: /content/roles/performer" in seen["playbook_text"]
    assert seen["envvars"]["K8S_AUTH_KUBECONFIG"] == "/kc"
    assert (seen["ident"], seen["only_failed_event_data"]) == ("r1", True)
    assert (result.ok, result.failure, result.module_calls, result.reconcile_id) == (
        False,
        "status: boom",
        2,
        "r1",
    )
    assert result.per_cr == {"ns/a": {"namespace": "ns", "name": "a", "ready": True}}
    assert not (tmp_path / "work" / "runs" / "r1").exists()
    work_waiting = str(tmp_path / "work" / "work-waiting")
    assert seen["extravars"][WORK_WAITING_VAR] == {"__ansible_unsafe": work_waiting}


def test_the_file_the_runs_look_for_exists_while_work_waits_and_a_stale_one_is_removed(tmp_path: Path):
    waiting = tmp_path / "work" / "work-waiting"
    waiting.parent.mkdir()
    waiting.touch()  # left by an earlier operator process with this work dir
    batch_runner = runner.AnsibleBatchRunner(tmp_path / "content", tmp_path / "work")
    assert not waiting.exists()
    batch_runner.work_waiting(True)
    assert waiting.exists()
    batch_runner.work_waiting(False)
    batch_runner.work_waiting(False)
    assert not waiting.exists()


def test_a_warm_runner_runs_the_playbook_through_the_warm_client_and_stops_its_server(
    tmp_path: Path, monkeypatch
):
    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return SimpleNamespace(status="successful", rc=0, events=[])

    monkeypatch.setattr(runner.ansible_runner, "run", fake_run)
    batch_runner = runner.AnsibleBatchRunner(tmp_path / "content", tmp_path / "work", warm=True)
    batch_runner.run({}, role=None, playbook=Path("/content/play book.yml"), cancel=threading.Event())
    client = Path(seen["binary"])
    assert "playbook" not in seen and seen["cmdline"] == "'/content/play book.yml'"
    assert "hourglass_operator.warm_ansible_client" in client.read_text() and os.access(client, os.X_OK)
    socket_path = Path(seen["envvars"][SOCKET_ENV])
    server = batch_runner._warm_server
    assert server is not None and server.poll() is None
    batch_runner.close()
    assert server.poll() is not None and not socket_path.parent.exists()


def test_warming_up_has_the_warm_server_import_ansible_with_an_empty_run_before_any_real_one(tmp_path: Path):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    try:
        batch_runner.warm_up()
        server = batch_runner._warm_server
        assert server is not None and server.poll() is None
        # Imported with the runs' configuration: Ansible's YAML extension is loaded in the server itself.
        assert "yaml/_yaml" in Path(f"/proc/{server.pid}/maps").read_text()
        assert runner.collection_of(REPO) == ["hourglass.operator"]  # what it preloaded
    finally:
        batch_runner.close()


def test_without_warm_ansible_warming_up_does_nothing(tmp_path: Path):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work")
    batch_runner.warm_up()
    assert batch_runner._warm_server is None and not (tmp_path / "work" / "warm-up.yml").exists()


def test_the_warm_server_listens_before_its_first_client_is_started(tmp_path: Path):
    """Else the first run, finding no socket, would run cold (and a warm-up would warm nothing)."""
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    try:
        _client, socket_path = batch_runner._warm_command()
        assert Path(socket_path).is_socket()
    finally:
        batch_runner.close()


def test_each_warm_run_reports_its_own_events(tmp_path: Path):
    """ansible-runner's display callback takes the run's artifact directory when it is imported: one
    preloaded by the warm server would write every later run's events where the first run's went."""
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", warm=True)
    play = "---\n- hosts: localhost\n  gather_facts: false\n  tasks:\n"
    play += "    - ansible.builtin.fail:\n        msg: {}\n"
    try:
        for attempt in ("first", "second"):
            playbook = tmp_path / f"{attempt}.yml"
            playbook.write_text(play.format(f"the {attempt} run failed"))
            result = batch_runner.run({}, role=None, playbook=playbook, cancel=threading.Event())
            # What the run printed and the events it left, should this fail again (it failed once, in
            # a full unit run, and never since: the output was not kept).
            artifacts = tmp_path / "work" / "artifacts" / result.reconcile_id
            said = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else "(no stdout)"
            events = sorted(p.name for p in (artifacts / "job_events").glob("*"))
            assert result.failure is not None and f"the {attempt} run failed" in result.failure, (
                result,
                said,
                events,
            )
    finally:
        batch_runner.close()


@pytest.mark.parametrize("warm", [False, True])
def test_the_batch_reaches_the_play_in_a_file_whose_strings_are_never_templated(tmp_path: Path, warm: bool):
    """The play gets `<batch_var>_file`, not the batch; read into a variable (as the performer role
    does for render-only runs), its strings stay data, and so do the other extra vars."""
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", batch_var="items", warm=warm)
    kept = tmp_path / "kept.json"
    playbook = tmp_path / "keep.yml"
    playbook.write_text(
        "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n"
        "        content: \"{{ {'items': lookup('ansible.builtin.file', items_file) | from_json,\n"
        "                       'defined': items is defined, 'state': state} | to_json }}\"\n"
        f"        dest: {kept}\n        mode: '0600'\n"
    )
    batch = [{"image": "{{ lookup('pipe', 'id') }}", "n": 1}]
    extravars = {"items": batch, "state": "{{ lookup('pipe', 'id') }}"}
    result = batch_runner.run(extravars, role=None, playbook=playbook, cancel=threading.Event())
    assert result.ok, result.failure
    assert json.loads(kept.read_text()) == {"items": batch, "defined": False, "state": extravars["state"]}
    assert extravars == {"items": batch, "state": "{{ lookup('pipe', 'id') }}"}  # the caller's, untouched


def test_a_batch_given_as_a_generator_is_written_as_the_same_list(tmp_path: Path):
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", batch_var="items")
    batch = [{"name": f"p{i}", "env": [{"name": "A", "value": '\u00e9"{{ x }}'}]} for i in range(3)]
    for given, directory in ((iter(batch), "generator"), (batch, "list"), (iter([]), "empty")):
        (tmp_path / directory).mkdir()
        named = batch_runner._batch_file(tmp_path / directory, given)
        expected = [] if directory == "empty" else batch
        assert json.loads(Path(named["items_file"]).read_text(encoding="utf-8")) == expected


def test_the_tail_hands_over_each_complete_line_once_while_the_run_goes_on(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    reported: list[tuple[str, bool]] = []
    got_a = threading.Event()

    def on_result(key: str, entry: dict) -> None:
        reported.append((key, entry["ready"]))
        got_a.set()

    with ResultsTail(path, on_result, interval=0.01), path.open("a", encoding="utf-8") as results:
        results.write(line("a", ready=False))
        results.write(line("b", ready=True)[:10])  # a line being written
        results.flush()
        assert got_a.wait(30)  # reported before the run (this block) ends
        assert reported == [("ns/a", False)]
        results.write(line("b", ready=True)[10:] + line("a", ready=True))
    assert reported == [("ns/a", False), ("ns/b", True)]  # b once complete; a only once


def _wait_for_file_play(tmp_path: Path) -> Path:
    """A play that says it started (a file) and then waits for another file: a run that goes on for as
    long as the test wants."""
    playbook = tmp_path / "long.yml"
    playbook.write_text(
        "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.shell: 'touch {tmp_path}/started; until [ -e {tmp_path}/go ]; do sleep 0.05;"
        " done'\n"
    )
    return playbook


EMPTY_PLAY = "---\n- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks: []\n"


def test_the_artifacts_of_a_run_going_on_stay_while_other_runs_end(tmp_path: Path):
    """All runs share the artifact dir; the runs that end meanwhile keep only the newest
    `max_artifacts` of the ended ones, never removing those of a run going on (ansible-runner's
    rotation did, and the run then failed when it wrote its status there)."""
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", max_artifacts=1)
    artifacts = tmp_path / "work" / "artifacts"
    short = tmp_path / "short.yml"
    short.write_text(EMPTY_PLAY)
    results, cancel = {}, threading.Event()

    def long_run() -> None:
        playbook = _wait_for_file_play(tmp_path)
        results["long"] = batch_runner.run({}, role=None, playbook=playbook, cancel=threading.Event(),
                                           reconcile_id="long")  # fmt: skip

    thread = threading.Thread(target=long_run)
    thread.start()
    try:
        # A run that ended first never starts its task: say why at once instead of after the wait.
        wait_for(lambda: (tmp_path / "started").exists() or not thread.is_alive(),
                 what="the long run's task to start", timeout=120)  # fmt: skip
        assert (tmp_path / "started").exists(), f"the long run ended before its task started: {results}"
        for name in ("short-1", "short-2"):
            ended = batch_runner.run({}, role=None, playbook=short, cancel=cancel, reconcile_id=name)
            assert ended.ok, ended.failure
        assert sorted(os.listdir(artifacts)) == ["long", "short-2"]
    finally:
        (tmp_path / "go").touch()
        thread.join(60)
    assert results["long"].ok, results["long"].failure
    assert sorted(os.listdir(artifacts)) == ["long"]  # now the newest that ended


def test_pruning_the_artifacts_skips_those_another_run_removed_first(tmp_path: Path, monkeypatch):
    """Two runs that end (or start) together both prune the artifact dir: what one lists, the other
    may have removed before it looks at it."""
    batch_runner = runner.AnsibleBatchRunner(REPO, tmp_path / "work", max_artifacts=2)
    artifacts = tmp_path / "work" / "artifacts"
    for index in range(4):
        (artifacts / f"old-{index}" / "job_events").mkdir(parents=True)
        os.utime(artifacts / f"old-{index}", (time.time() - 100 + index,) * 2)
    playbook = tmp_path / "empty.yml"
    playbook.write_text(EMPTY_PLAY)
    listdir = os.listdir

    def listed_then_pruned_by_another_run(path: str | os.PathLike = ".") -> list[str]:
        names = listdir(path)
        if os.path.abspath(path) == str(artifacts):
            for name in sorted(name for name in names if name.startswith("old-"))[:1]:  # the oldest
                shutil.rmtree(artifacts / name)
        return names

    monkeypatch.setattr(os, "listdir", listed_then_pruned_by_another_run)
    result = batch_runner.run({}, role=None, playbook=playbook, cancel=threading.Event(), reconcile_id="new")
    assert result.ok, result.failure
    monkeypatch.undo()
    assert sorted(os.listdir(artifacts)) == ["new", "old-3"]


def test_a_runs_private_data_is_removed_however_the_run_ends_and_an_earlier_processs_at_start(
    tmp_path: Path, monkeypatch
):
    """A run's data dir holds the API credentials of the run (and its batch and extra vars): it goes
    when the run ends, even when ansible-runner raised, and what an earlier process left goes when the
    runner starts."""
    left = tmp_path / "work" / "runs" / "from-an-earlier-process"
    left.mkdir(parents=True)
    (left / "kube-connection.json").write_text('{"authorization": "Bearer old"}')
    credentials = {"host": "https://10.0.0.1", "authorization": "Bearer SECRET"}
    batch_runner = runner.AnsibleBatchRunner(
        tmp_path / "content", tmp_path / "work", connection=lambda: credentials, batch_var="items"
    )
    assert not left.exists()
    seen = []

    def failing_run(**kwargs):
        seen.extend(sorted(os.listdir(kwargs["private_data_dir"])))
        raise FileNotFoundError("as ansible-runner may")

    monkeypatch.setattr(runner.ansible_runner, "run", failing_run)
    with pytest.raises(FileNotFoundError):
        batch_runner.run({"items": [{"n": 1}]}, role=None, playbook=Path("/p.yml"), cancel=threading.Event())
    assert {"batch.json", "kube-connection.json", "env"} <= set(seen)
    assert os.listdir(tmp_path / "work" / "runs") == []
