"""Role variables the role could not render, at the edges the first checks leave open: a GPU type with
no products (its node affinity would match no node: `In` with no values is refused by the API
server), an empty product or type name, a label value one character too long (the managed-by label
of every child), a label key whose prefix is longer than a DNS subdomain may be. The same rules hold
for --role-vars and the operator role's `operator_role_vars`."""

from __future__ import annotations

import pytest
from ansible_collections.hourglass.operator.plugins.module_utils.role_vars_check import (
    is_label_value,
    is_qualified_name,
    role_vars_errors,
)

from hourglass_operator.role_vars import RoleVarsError, role_options, with_role_vars
from tests.unit.test_role_vars import shipped_watches

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("role_vars", "said"), [
    ({"performer_gpu_products": {"nvidia-h100": []}},
     "performer_gpu_products: nvidia-h100: must be a non-empty list of GPU products, not []"),
    ({"performer_gpu_products": {"nvidia-h100": ["NVIDIA-H100", ""]}},
     "performer_gpu_products: nvidia-h100: every GPU product must be a non-empty label value"),
    ({"performer_gpu_products": {"": ["NVIDIA-H100"]}},
     "performer_gpu_products: '': a GPU type must be a non-empty string"),
    ({"performer_field_manager": "m" * 64}, "performer_field_manager: must be a non-empty label value"),
    ({"performer_gpu_product_label": "a" * 254 + "/product"},
     "performer_gpu_product_label: must be a label key"),
])  # fmt: skip
def test_values_at_the_edges_the_role_could_not_render_are_refused(role_vars: dict, said: str):
    with pytest.raises(RoleVarsError) as raised:
        with_role_vars(shipped_watches(), role_vars)
    assert str(raised.value).startswith(f"--role-vars (ROLE_VARS): {said}"), raised.value
    [message] = role_vars_errors(
        role_vars, role_options("hourglass.operator.performer"), "operator_role_vars"
    )
    assert message.startswith(f"operator_role_vars: {said}"), message


def test_label_values_and_keys_at_their_longest_are_accepted():
    assert is_label_value("v" * 63) and not is_label_value("v" * 64)
    prefix = ".".join(["a" * 63] * 4)[:253]  # a DNS subdomain of 253 characters
    assert is_qualified_name(f"{prefix}/name") and not is_qualified_name(f"{prefix}a/name")
