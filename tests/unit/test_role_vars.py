"""Role variables given at deployment (`--role-vars`, `ROLE_VARS`): parsed as YAML or JSON, checked
against the role's argument specs (converted as Ansible converts them), and set on every run of the
watch, over the watches file's vars, with the finalizer's own vars still winning in its runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import (
    MAX_SECONDS,
    SECONDS_VARS,
    is_label_value,
    is_qualified_name,
    role_vars_errors,
)

from hourglass_operator.batching import run_request
from hourglass_operator.role_vars import (
    RoleVarsError,
    check_watches_vars,
    parse_role_vars,
    role_options,
    with_role_vars,
)
from hourglass_operator.runs import ABSENT, PRESENT
from hourglass_operator.watches import WatchesError, load_watches
from tests.support.paths import REPO

pytestmark = pytest.mark.unit


def shipped_watches() -> list:
    return load_watches(REPO / "watches.yaml")


def extravars(watch, state: str) -> dict:
    request = run_request(watch, state, [], state_var="performer_state", items_var="performers")
    return {k: v for k, v in request.extravars.items() if k != "performers"}


def test_role_vars_are_set_on_every_run_converted_as_the_role_declares_them():
    given = parse_role_vars(
        '{"performer_cluster_domain": "corp.example", "performer_lost_pod_after_seconds": "45"}'
    )
    [watch] = with_role_vars(shipped_watches(), given)
    want = {"performer_cluster_domain": "corp.example", "performer_lost_pod_after_seconds": 45}
    assert extravars(watch, PRESENT) == {**want, "performer_state": "present"}
    assert extravars(watch, ABSENT) == {**want, "performer_state": "absent"}  # the finalizer's state wins


def test_role_vars_win_over_the_watches_files_vars():
    [watch] = shipped_watches()
    watch = dataclasses.replace(
        watch, vars={"performer_cluster_domain": "a.example", "performer_field_manager": "x"}
    )
    [merged] = with_role_vars([watch], parse_role_vars("performer_cluster_domain: b.example"))
    assert merged.vars == {"performer_cluster_domain": "b.example", "performer_field_manager": "x"}


def test_no_role_vars_leave_the_watches_as_they_are():
    watches = shipped_watches()
    assert parse_role_vars("") == {} and with_role_vars(watches, {}) is watches


def test_every_role_option_is_declared_with_a_type():
    options = role_options("hourglass.operator.performer")
    assert options and all("type" in option for option in options.values())


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a: [", "not YAML or JSON"),
        ("just text", "must be a mapping"),
        ("{1: x}", "1 is not a variable name"),
        ("performer_render_to: /tmp/x", "performer_render_to: set by the operator for each run"),
    ],
)
def test_what_is_not_a_mapping_of_variables_is_refused(text: str, said: str):
    with pytest.raises(RoleVarsError, match=said):
        parse_role_vars(text)


def test_a_role_without_argument_specs_takes_any_variable(tmp_path: Path):
    (tmp_path / "tasks").mkdir()
    [watch] = shipped_watches()
    own = dataclasses.replace(watch, role=tmp_path, finalizer=dataclasses.replace(watch.finalizer, role=None))
    [merged] = with_role_vars([own], {"anything": 1})
    assert merged.vars["anything"] == 1


# --- the watches file's vars and its finalizer's, checked as --role-vars are --------------------------


def watch_with(vars: dict | None = None, finalizer_vars: dict | None = None):
    [watch] = shipped_watches()
    finalizer = watch.finalizer
    if finalizer_vars is not None:
        finalizer = dataclasses.replace(finalizer, vars=finalizer_vars)
    return dataclasses.replace(watch, vars=vars or {}, finalizer=finalizer)


def test_the_shipped_watches_file_passes_with_its_finalizers_state():
    [watch] = check_watches_vars(shipped_watches(), "watches.yaml")
    assert watch.vars == {} and watch.finalizer.vars == {"performer_state": "absent"}


def test_a_watchs_vars_are_converted_as_the_role_declares_them():
    [watch] = check_watches_vars([watch_with({"performer_unschedulable_timeout": "600"})], "watches.yaml")
    assert watch.vars == {"performer_unschedulable_timeout": 600}


@pytest.mark.parametrize(
    ("vars", "finalizer_vars", "said"),
    [
        ({"performer_state": "absent"}, None,
         "watches.yaml[0].vars.performer_state: set by the operator for each run, it cannot be given"),
        ({"performer_unschedulable_timeout": "five minutes"}, None,
         "watches.yaml[0].vars: argument 'performer_unschedulable_timeout' is of type str"),
        ({"performer_clusterdomain": "x"}, None,
         "watches.yaml[0].vars: unknown variable(s) performer_clusterdomain of role"),
        ({"performer_default_grpc_port": 0}, None,
         "watches.yaml[0].vars: performer_default_grpc_port: must be a port number from 1 to 65535"),
        (None, {"performer_state": "present"},
         "watches.yaml[0].finalizer.vars.performer_state: must be absent"),
        (None, {"performer_state": "absent", "performer_manage_status": False},
         "watches.yaml[0].finalizer.vars.performer_manage_status: set by the operator for each run"),
        (None, {"performer_state": "absent", "performer_liveness_probe": None},
         "watches.yaml[0].finalizer.vars: performer_liveness_probe: must not be null"),
    ],
)  # fmt: skip
def test_watch_and_finalizer_vars_the_role_would_refuse_stop_the_start(vars, finalizer_vars, said: str):
    with pytest.raises(WatchesError) as raised:
        check_watches_vars([watch_with(vars, finalizer_vars)], "watches.yaml")
    assert str(raised.value).startswith(said), raised.value


# --- values of the right type the role could not render ----------------------------------------------


@pytest.mark.parametrize(
    ("role_vars", "said"),
    [
        ({"performer_liveness_probe": None}, "performer_liveness_probe: must not be null"),
        ({"performer_gpu_products": None}, "performer_gpu_products: must not be null"),
        ({"performer_gpu_products": {"nvidia-h100": "NVIDIA-H100"}},
         "performer_gpu_products: nvidia-h100: must be a non-empty list of GPU products, not 'NVIDIA-H100'"),
        ({"performer_gpu_products": {"nvidia-h100": [1]}},
         "performer_gpu_products: nvidia-h100: every GPU product must be a non-empty label value"),
        ({"performer_default_grpc_port": 0},
         "performer_default_grpc_port: must be a port number from 1 to 65535"),
        ({"performer_default_grpc_port": 65536}, "performer_default_grpc_port: must be a port number from 1"),
        ({"performer_gpu_resource": ""}, "performer_gpu_resource: must be an extended resource name"),
        ({"performer_gpu_resource": "gpu"}, "performer_gpu_resource: must be an extended resource name"),
        ({"performer_gpu_product_label": "a b"}, "performer_gpu_product_label: must be a label key"),
        ({"performer_field_manager": "héllo"}, "performer_field_manager: must be a non-empty label value"),
        ({"performer_field_manager": ""}, "performer_field_manager: must be a non-empty label value"),
        ({"performer_lost_pod_after_seconds": 10**12},
         "performer_lost_pod_after_seconds: must be from 0 to 3155760000 seconds (100 years)"),
        ({"performer_unschedulable_timeout": -1}, "performer_unschedulable_timeout: must be from 0 to"),
        ({"performer_ended_pod_max_age_seconds": 10**12},
         "performer_ended_pod_max_age_seconds: must be from 0"),
        # A GPU type with no products would get a node affinity `In` with no values (refused by the
        # API server); an empty product or type, a label value or key prefix one character too long.
        ({"performer_gpu_products": {"nvidia-h100": []}},
         "performer_gpu_products: nvidia-h100: must be a non-empty list of GPU products, not []"),
        ({"performer_gpu_products": {"nvidia-h100": ["NVIDIA-H100", ""]}},
         "performer_gpu_products: nvidia-h100: every GPU product must be a non-empty label value"),
        ({"performer_gpu_products": {"": ["NVIDIA-H100"]}},
         "performer_gpu_products: '': a GPU type must be a non-empty string"),
        ({"performer_field_manager": "m" * 64}, "performer_field_manager: must be a non-empty label value"),
        ({"performer_gpu_product_label": "a" * 254 + "/product"},
         "performer_gpu_product_label: must be a label key"),
    ],
)  # fmt: skip
def test_values_the_role_could_not_render_are_refused_naming_the_variable(role_vars: dict, said: str):
    with pytest.raises(RoleVarsError) as raised:
        with_role_vars(shipped_watches(), role_vars)
    assert str(raised.value).startswith(f"--role-vars (ROLE_VARS): {said}"), raised.value
    # The operator role's playbooks refuse them by the same rules (the filter performer_role_vars_errors).
    [message] = role_vars_errors(
        role_vars, role_options("hourglass.operator.performer"), "operator_role_vars"
    )
    assert message.startswith(f"operator_role_vars: {said}"), message


def test_the_limits_of_the_role_vars_are_accepted():
    role_vars = {
        "performer_default_grpc_port": 65535, "performer_lost_pod_after_seconds": MAX_SECONDS,
        "performer_unschedulable_timeout": 0, "performer_gpu_resource": "example.com/fpga",
        "performer_gpu_products": {"nvidia-h100": ["NVIDIA-H100-80GB-HBM3"]},
        "performer_field_manager": "my-operator_2.0",
    }  # fmt: skip
    [watch] = with_role_vars(shipped_watches(), role_vars)
    assert {k: watch.vars[k] for k in role_vars} == role_vars


def test_every_seconds_variable_of_the_role_is_bounded():
    options = role_options("hourglass.operator.performer")
    durations = {name for name, option in options.items()
                 if option["type"] == "int" and name.endswith(("_seconds", "_timeout"))}  # fmt: skip
    assert durations == set(SECONDS_VARS)


def test_label_values_and_keys_at_their_longest_are_accepted():
    assert is_label_value("v" * 63) and not is_label_value("v" * 64)
    prefix = ".".join(["a" * 63] * 4)[:253]  # a DNS subdomain of 253 characters
    assert is_qualified_name(f"{prefix}/name") and not is_qualified_name(f"{prefix}a/name")
