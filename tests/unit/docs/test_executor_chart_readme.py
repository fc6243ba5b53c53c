"""The example values of charts/hourglass-executor/README.md, with their placeholders ("0x...",
"https://...") filled in, render (by a real `helm`, hack/helm/build.sh; skipped when it cannot be
built here) a configuration the executor accepts, and every keystore password variable that
configuration names is one the chart sets on the executor container.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from hourglass_executor.config.loader import parse_config

from tests.support.docs_commands import fenced_blocks
from tests.support.helm import EXECUTOR_CHART, Helm, helm_binary

README = EXECUTOR_CHART / "README.md"
RELEASE, NAMESPACE = "hourglass-executor", "avs"  # as the README's `helm install`
# What a reader puts in place of a placeholder, by the key it is the value of. Anvil's first
# development account: public, for tests only.
FILLED = {
    "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "avsAddress": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "privateKey": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "rpcUrl": "https://rpc.example",
}


def filled(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: filled(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, key) for v in value]
    if isinstance(value, str) and "..." in value and key in FILLED:
        return FILLED[key]
    return value


def example_values() -> dict[str, Any]:
    examples = [
        values
        for block in fenced_blocks(README)
        if block.language == "yaml" and isinstance(values := yaml.safe_load(block.text), dict)
        if "config" in values
    ]
    assert len(examples) == 1, (
        f"{README.name}: expected one example of values with `config`, found {len(examples)}"
    )
    return filled(examples[0])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    helm = Helm(helm_binary(), tmp_path_factory.mktemp("helm"), chart=EXECUTOR_CHART)
    return helm.objects(example_values(), release=RELEASE, namespace=NAMESPACE)


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def test_the_example_values_render_a_configuration_the_executor_accepts(
    rendered: list[dict[str, Any]],
) -> None:
    text = base64.b64decode(the(rendered, "Secret")["data"]["config.yaml"]).decode()
    config = parse_config(text, f"the config.yaml {README.name}'s example values render")
    assert config.operator.signing_keys.ecdsa is not None or config.operator.signing_keys.bls is not None


def test_the_keystore_password_variables_are_set_on_the_executor(rendered: list[dict[str, Any]]) -> None:
    text = base64.b64decode(the(rendered, "Secret")["data"]["config.yaml"]).decode()
    operator = yaml.safe_load(text)["operator"]
    assert "signingKeys" in operator, f"{README.name}: the example values have no operator.signingKeys"
    signing_keys = operator["signingKeys"]
    wanted = {key["passwordEnv"] for key in signing_keys.values() if "passwordEnv" in key}
    (container,) = the(rendered, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert wanted <= {env["name"] for env in container.get("env", [])}
