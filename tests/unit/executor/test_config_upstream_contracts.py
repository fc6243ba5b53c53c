"""Upstream's `contracts` and `overrideContracts` keys (config/upstream.py): an upstream configuration
with them loads, their addresses for `l1Chain.chainId` are used with the precedence `chain.contracts`,
`overrideContracts`, `contracts`, network defaults (as `build_chain` resolves them), entries for
other chains and names this executor does not use are ignored, and malformed input is refused naming
its key path."""

from __future__ import annotations

import copy
import json
import textwrap
from typing import Any

import pytest
import yaml
from hourglass_executor import cli
from hourglass_executor.chain.networks import DEFAULT_CONTRACTS, resolve_contracts
from hourglass_executor.config import ConfigError, ExecutorConfig, parse_config

from tests.unit.executor.test_config import VALID

pytestmark = pytest.mark.unit

SEPOLIA = 11155111
A, B, C, D = ("0x" + digit * 40 for digit in "abcd")
ADDRESS_RULE = "must be an Ethereum address: 0x followed by 40 hexadecimal digits"


def contract(name: str, address: str, chain_id: int | None = SEPOLIA, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "address": address, **more}
    if chain_id is not None:
        entry["chainId"] = chain_id
    return entry


def core(*entries: dict[str, Any]) -> str:
    """`contracts` as upstream writes it: a JSON string."""
    return json.dumps({"contracts": list(entries)})


def mailbox_override(address: str, chain_ids: list[int] | None = None, name: str = "TaskMailbox") -> Any:
    override: dict[str, Any] = {"contract": json.dumps(contract(name, address, chain_id=None))}
    if chain_ids is not None:
        override["chainIds"] = chain_ids
    return {"taskMailbox": override}


def config_with(chain_id: int = SEPOLIA, **top: Any) -> str:
    data = copy.deepcopy(VALID)
    data["l1Chain"]["chainId"] = chain_id
    data.update(top)
    return yaml.safe_dump(data, sort_keys=False)


def resolved(config: ExecutorConfig) -> dict[str, str]:
    """The addresses the JSON-RPC reader gets (`server/components.py` build_chain)."""
    contracts, missing = resolve_contracts(config.l1_chain.chain_id, config.chain.contracts.by_key())
    assert missing == []
    return contracts


def default(key: str, chain_id: int = SEPOLIA) -> str:
    return DEFAULT_CONTRACTS[chain_id][key].lower()


# An upstream configuration as the Go executor's tests write it: both keys as YAML block strings.
UPSTREAM = textwrap.dedent(
    f"""\
    operator:
      address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
      operatorPrivateKey:
        privateKey: "{VALID["operator"]["operatorPrivateKey"]["privateKey"]}"
      signingKeys:
        ecdsa:
          privateKey: "{VALID["operator"]["operatorPrivateKey"]["privateKey"]}"
    l1Chain:
      rpcUrl: "http://localhost:8545"
      chainId: 17000
    avsPerformers:
    - image:
        repository: "eigenlabs/avs"
        tag: "v1.0.0"
      processType: "server"
      avsAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    contracts: |
      {{
        "contracts": [
          {{"name": "AllocationManager", "address": "{A}", "chainId": 17000, "abiVersions": ["[{{}}]"]}},
          {{"name": "KeyRegistrar", "address": "{B}", "chainId": 17000, "abiVersions": []}},
          {{"name": "TaskMailbox", "address": "{C}", "chainId": 17000, "abiVersions": []}},
          {{"name": "CrossChainRegistry", "address": "{D}", "chainId": 17000, "abiVersions": []}},
          {{"name": "TaskMailbox", "address": "{D}", "chainId": 1, "abiVersions": []}}
        ]
      }}
    overrideContracts:
      taskMailbox:
        chainIds: [17000]
        contract: |
          {{"name": "TaskMailbox", "address": "{D}", "chainId": 17000, "abiVersions": ["[]"]}}
    chain:
      contracts:
        bn254CertificateVerifier: "{A}"
        ecdsaCertificateVerifier: "{B}"
    """
)


def test_an_upstream_configuration_with_both_keys_loads_and_its_addresses_are_used():
    config = parse_config(UPSTREAM)
    # 17000 has no defaults here: upstream's keys give the three it names, chain.contracts the others.
    assert resolved(config) == {
        "allocationManager": A,
        "keyRegistrar": B,
        "taskMailbox": D,  # overrideContracts over contracts
        "bn254CertificateVerifier": A,
        "ecdsaCertificateVerifier": B,
    }
    assert config.override_contracts is not None and config.override_contracts.task_mailbox is not None
    assert config.override_contracts.task_mailbox.chain_ids == [17000]
    assert config.contracts is not None and config.contracts.contracts is not None
    assert [c.name for c in config.contracts.contracts][-2:] == ["CrossChainRegistry", "TaskMailbox"]


def test_precedence_chain_contracts_then_override_then_contracts_then_defaults():
    text = config_with(
        contracts=core(contract("TaskMailbox", A), contract("AllocationManager", A)),
        overrideContracts=mailbox_override(B, [SEPOLIA]),
        chain={"contracts": {"allocationManager": C}},
    )
    assert resolved(parse_config(text)) == {
        "allocationManager": C,  # chain.contracts over contracts
        "keyRegistrar": default("keyRegistrar"),  # given by neither: the network's default
        "taskMailbox": B,  # overrideContracts over contracts
        "bn254CertificateVerifier": default("bn254CertificateVerifier"),
        "ecdsaCertificateVerifier": default("ecdsaCertificateVerifier"),
    }
    text = config_with(
        overrideContracts=mailbox_override(B, [SEPOLIA]), chain={"contracts": {"taskMailbox": C}}
    )
    assert resolved(parse_config(text))["taskMailbox"] == C  # chain.contracts over overrideContracts
    text = config_with(contracts=core(contract("KeyRegistrar", D)))
    assert resolved(parse_config(text))["keyRegistrar"] == D  # contracts over the default


def test_contracts_as_a_yaml_mapping_as_upstreams_yaml_loader_reads_it():
    text = config_with(contracts={"contracts": [contract("TaskMailbox", A)]})
    assert resolved(parse_config(text))["taskMailbox"] == A


def test_other_chains_unused_names_and_unread_json_keys_are_ignored():
    text = config_with(
        contracts=core(
            contract("TaskMailbox", A, chain_id=1),
            contract("TaskMailbox", B, chain_id=1),  # twice, but not for l1Chain's chain
            contract("CrossChainRegistry", C),
            contract("CrossChainRegistry", D),  # twice, but not a contract this executor uses
            contract("AllocationManager", D, chain_id=0, deployedAt="2025-01-01"),
        ),
        overrideContracts=mailbox_override(A, [1, 8453]),
    )
    assert resolved(parse_config(text)) == {key: default(key) for key in DEFAULT_CONTRACTS[SEPOLIA]}


def test_an_override_without_chain_ids_applies_to_every_chain_as_upstream():
    assert resolved(parse_config(config_with(overrideContracts=mailbox_override(A))))["taskMailbox"] == A
    assert resolved(parse_config(config_with(overrideContracts=mailbox_override(A, []))))["taskMailbox"] == A


def test_the_override_replaces_the_contract_its_name_names():
    text = config_with(overrideContracts=mailbox_override(A, [SEPOLIA], name="AllocationManager"))
    contracts = resolved(parse_config(text))
    assert (contracts["allocationManager"], contracts["taskMailbox"]) == (A, default("taskMailbox"))


@pytest.mark.parametrize(
    "top",
    [
        {"contracts": ""},  # upstream: no runtime contracts
        {"overrideContracts": {"taskMailbox": {"chainIds": [SEPOLIA]}}},  # upstream: nothing to override
        {"overrideContracts": {"taskMailbox": {"contract": "", "chainIds": [SEPOLIA]}}},
        {"overrideContracts": {}},
    ],
    ids=["empty contracts", "override without contract", "empty override contract", "no override"],
)
def test_what_upstream_reads_as_not_set_is_not_set(top):
    assert resolved(parse_config(config_with(**top))) == {
        key: default(key) for key in DEFAULT_CONTRACTS[SEPOLIA]
    }


def test_upstream_contracts_complete_a_chain_without_defaults_and_the_rest_is_still_required():
    names = ("AllocationManager", "KeyRegistrar", "TaskMailbox", "BN254CertificateVerifier")
    text = config_with(chain_id=17000, contracts=core(*(contract(n, A, chain_id=17000) for n in names)))
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert str(caught.value) == (
        "chain.contracts: required: l1Chain.chainId 17000 is not a network with default contract "
        "addresses (1 (mainnet), 11155111 (sepolia), 8453 (base), 84532 (base-sepolia), 31337 (anvil)); "
        "give ecdsaCertificateVerifier"
    )
    names += ("ECDSACertificateVerifier",)
    text = config_with(chain_id=17000, contracts=core(*(contract(n, A, chain_id=17000) for n in names)))
    assert set(resolved(parse_config(text)).values()) == {A}


def test_the_static_reader_ignores_them():
    text = config_with(
        contracts=core(contract("TaskMailbox", A)),
        overrideContracts=mailbox_override(B),
        chain={"type": "static", "file": "chain.yaml"},
    )
    assert parse_config(text).chain.contracts.by_key()["taskMailbox"] is None


def _override(**fields: Any) -> dict[str, Any]:
    return {"overrideContracts": {"taskMailbox": {"chainIds": [SEPOLIA], **fields}}}


MALFORMED: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "contracts not JSON",
        {"contracts": "{contracts: []}"},
        ["contracts: not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"],
    ),
    (
        "contracts a JSON array",
        {"contracts": "[]"},
        ["contracts: must be a JSON object (a string of JSON, or a mapping)"],
    ),
    (
        "contracts a number",
        {"contracts": 5},
        ["contracts: must be a JSON object (a string of JSON, or a mapping)"],
    ),
    (
        "contracts.contracts not a list",
        {"contracts": json.dumps({"contracts": {}})},
        ["contracts.contracts: must be a list"],
    ),
    (
        "a bad address",
        {"contracts": core(contract("TaskMailbox", "0x12"))},
        [f"contracts.contracts[0].address: {ADDRESS_RULE}"],
    ),
    (
        "a bad address in the mapping form",
        {"contracts": {"contracts": [contract("KeyRegistrar", "0x12")]}},
        [f"contracts.contracts[0].address: {ADDRESS_RULE}"],
    ),
    (
        "an entry without name and chainId",
        {"contracts": core({"address": A})},
        [
            "contracts.contracts[0].name: required",
            "contracts.contracts[0].chainId: required",
        ],
    ),
    (
        "an entry not a mapping",
        {"contracts": json.dumps({"contracts": ["TaskMailbox"]})},
        ["contracts.contracts[0]: must be a mapping"],
    ),
    (
        "abiVersions not a list",
        {"contracts": core(contract("TaskMailbox", A, abiVersions="[]"))},
        ["contracts.contracts[0].abiVersions: must be a list"],
    ),
    (
        "a negative chain id",
        {"contracts": core(contract("TaskMailbox", A, chain_id=-1))},
        ["contracts.contracts[0].chainId: must be a non-negative integer"],
    ),
    (
        "a name used twice for the chain",
        {
            "contracts": core(
                contract("KeyRegistrar", A), contract("TaskMailbox", B), contract("KeyRegistrar", C)
            )
        },
        [
            "contracts.contracts[2].name: duplicate of contracts.contracts[0].name "
            f"(KeyRegistrar twice for chain id {SEPOLIA})"
        ],
    ),
    (
        "overrideContracts not a mapping",
        {"overrideContracts": "taskMailbox"},
        ["overrideContracts: must be a mapping"],
    ),
    (
        "an unknown override",
        {"overrideContracts": {"allocationManager": {}}},
        ["overrideContracts.allocationManager: unknown key; expected one of: taskMailbox"],
    ),
    (
        "an unknown key in the override",
        _override(contract=json.dumps(contract("TaskMailbox", A)), chainId=1),
        ['overrideContracts.taskMailbox.chainId: unknown key; did you mean "chainIds"?'],
    ),
    (
        "override contract not JSON",
        _override(contract="TaskMailbox"),
        ["overrideContracts.taskMailbox.contract: not JSON: Expecting value (line 1, column 1)"],
    ),
    (
        "override contract a bad address",
        _override(contract=json.dumps(contract("TaskMailbox", "0xzz"))),
        [f"overrideContracts.taskMailbox.contract.address: {ADDRESS_RULE}"],
    ),
    (
        "override contract without address",
        _override(contract=json.dumps({"name": "TaskMailbox"})),
        ["overrideContracts.taskMailbox.contract.address: required"],
    ),
    (
        "override chainIds not a list",
        _override(contract=json.dumps(contract("TaskMailbox", A)), chainIds=1),
        ["overrideContracts.taskMailbox.chainIds: must be a list"],
    ),
    (
        "override chainIds not numbers",
        _override(contract=json.dumps(contract("TaskMailbox", A)), chainIds=["x"]),
        ["overrideContracts.taskMailbox.chainIds[0]: must be a non-negative integer"],
    ),
]


@pytest.mark.parametrize(("top", "expected"), [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_input_is_refused_naming_its_path(top, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(**top))
    assert str(caught.value).splitlines() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000, "nested more than 64 deep"),  # json.loads crashed the process here
        ('{"contracts": [' * 40 + "]}" * 40, "nested more than 64 deep"),
        ('{"contracts": [{"chainId": ' + "9" * 5000 + "}]}", "a number of more than 4300 digits"),
    ],
    ids=["deep", "deep and closed", "long number"],
)
def test_json_that_cannot_be_read_is_a_problem_not_a_crash(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(contracts=text))
    assert str(caught.value) == f"contracts: not JSON that can be read: {message}"


def test_brackets_in_json_strings_do_not_count_as_nesting():
    abi = json.dumps([[[[[[{"type": "function"}]]]]]] * 20).replace("]", "]" * 20)
    text = config_with(contracts=core(contract("TaskMailbox", A, abiVersions=[abi, '"[[[[\\"'])))
    assert resolved(parse_config(text))["taskMailbox"] == A


def test_cli_validate_prints_them(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_with(contracts="{", overrideContracts=mailbox_override("0x12", [SEPOLIA])))
    assert cli.main(["validate", "--config-only", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}: invalid executor configuration:",
        "contracts: not JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
        f"overrideContracts.taskMailbox.contract.address: {ADDRESS_RULE}",
    ]
