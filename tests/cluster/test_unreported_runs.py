"""Runs that report nothing for a Performer (a role whose status task fails, a crash) must not
leave it silent or strand its finalizer: the loop records a Warning Event with the reason, and a
deleted Performer is still deleted, its Pod and Service first."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.api import read_or_none
from tests.support.paths import REPO
from tests.support.performers import GROUP, PLURAL, VERSION, performer
from tests.support.waiting import wait_for

BROKEN = "the status task is broken in this test's copy of the role"


def broken_content(tmp_path: Path) -> Path:
    """A content root whose watches.yaml names, by path, a copy of the performer role that writes
    the Pods and Services and then fails instead of writing the status (the role's modules and
    filters still come from the collection)."""
    root = tmp_path / "content"
    root.mkdir()
    shutil.copy(REPO / "ansible.cfg", root / "ansible.cfg")
    watches, fqcn = (REPO / "watches.yaml").read_text(), "role: hourglass.operator.performer"
    assert fqcn in watches
    (root / "watches.yaml").write_text(watches.replace(fqcn, "role: performer"))
    shutil.copytree(REPO / "roles", root / "roles")
    (root / "roles" / "performer" / "tasks" / "reconcile.yml").write_text(
        "---\n- name: Plan\n  ansible.builtin.import_tasks: plan.yml\n"
        "- name: Write the objects only\n  ansible.builtin.import_tasks: apply.yml\n"
        f"- name: Fail where the status would be written\n  ansible.builtin.fail:\n    msg: {BROKEN}\n"
    )
    return root


def warnings_about(core, namespace: str, name: str, reason: str) -> list:
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [e for e in events if e.type == "Warning" and e.reason == reason]


def test_a_performer_whose_runs_report_nothing_says_why_and_can_still_be_deleted(
    core, custom, namespace, operators, tmp_path
):
    content = broken_content(tmp_path)
    operator = operators("--content-root", str(content), "--watches-file", str(content / "watches.yaml"))
    operator.wait_ready()
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, performer("mute", config={}))
    # The role applies the Pod and Service before it fails.
    wait_for(lambda: read_or_none(core.read_namespaced_pod, "performer-mute", namespace), what="the pod")
    [warning] = wait_for(
        lambda: warnings_about(core, namespace, "mute", "ReconcileUnreported"),
        what="a ReconcileUnreported Event",
    )
    assert BROKEN in warning.message

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "mute")

    def all_gone() -> bool:
        return not any(
            read_or_none(read, *args)
            for read, args in (
                (custom.get_namespaced_custom_object, (GROUP, VERSION, namespace, PLURAL, "mute")),
                (core.read_namespaced_pod, ("performer-mute", namespace)),
                (core.read_namespaced_service, ("performer-mute", namespace)),
            )
        )

    wait_for(all_gone, timeout=60, what="the Performer, its Pod and its Service to be gone")
