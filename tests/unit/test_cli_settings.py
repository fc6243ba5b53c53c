"""The settings of `hourglass-operator run` from flags and environment variables: booleans parsed
strictly (TRUE, 1, yes turn an option on; anything else stops the start), numbers checked (whole,
finite, in range) and an empty variable meaning the default. A wrong value stops the start with one
line naming the flag, its variable and the rule, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from hourglass_operator import cli, health

pytestmark = pytest.mark.unit

ENV = (
    "LEADER_ELECT", "STATUS_FAST_PATH", "WARM_ANSIBLE", "MAX_BATCH_SIZE", "MAX_CONCURRENT_RECONCILES",
    "BATCH_WINDOW", "GRACEFUL_SHUTDOWN_TIMEOUT", "ANSIBLE_VERBOSITY", "METRICS_BIND_ADDRESS",
    "HEALTH_PROBE_BIND_ADDRESS",
)  # fmt: skip


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def parse(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *flags: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli.parser().parse_args(["run", *flags])


def refused(monkeypatch, capsys, env: dict[str, str], *flags: str) -> str:
    with pytest.raises(SystemExit) as exited:
        parse(monkeypatch, env, *flags)
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    return line


@pytest.mark.parametrize("text", ["true", "True", "TRUE", "1", "yes", "On", " true "])
def test_a_true_environment_variable_turns_the_option_on(monkeypatch, text: str):
    env = {"LEADER_ELECT": text, "STATUS_FAST_PATH": text, "WARM_ANSIBLE": text}
    args = parse(monkeypatch, env)
    assert (args.leader_elect, args.status_fast_path, args.warm_ansible) == (True, True, True)


@pytest.mark.parametrize("text", ["false", "False", "FALSE", "0", "no", "off"])
def test_a_false_environment_variable_turns_the_option_off(monkeypatch, text: str):
    env = {"LEADER_ELECT": text, "STATUS_FAST_PATH": text, "WARM_ANSIBLE": text}
    args = parse(monkeypatch, env)
    assert (args.leader_elect, args.status_fast_path, args.warm_ansible) == (False, False, False)


def test_the_flag_wins_over_its_environment_variable(monkeypatch):
    args = parse(monkeypatch, {"LEADER_ELECT": "true", "MAX_BATCH_SIZE": "bad"}, "--no-leader-elect",
                 "--max-batch-size", "7")  # fmt: skip
    assert args.leader_elect is False and args.max_batch_size == 7


@pytest.mark.parametrize(("env", "flag"), [
    ("LEADER_ELECT", "--leader-elect/--no-leader-elect"),
    ("STATUS_FAST_PATH", "--status-fast-path/--no-status-fast-path"),
    ("WARM_ANSIBLE", "--warm-ansible/--no-warm-ansible"),
])  # fmt: skip
def test_a_boolean_variable_that_is_neither_stops_the_start_naming_it(monkeypatch, capsys, env, flag):
    line = refused(monkeypatch, capsys, {env: "enabled"})
    assert line == (
        f"hourglass-operator run: error: argument {flag}: 'enabled' (the flag or env {env}) must be true "
        "or false (or 1/0, yes/no, on/off) (see hourglass-operator run --help)"
    )


@pytest.mark.parametrize(("env", "flag", "value", "rule"), [
    ("MAX_BATCH_SIZE", "--max-batch-size", "1e+06", "must be a whole number of at least 1"),
    ("MAX_BATCH_SIZE", "--max-batch-size", "0", "must be a whole number of at least 1"),
    ("MAX_CONCURRENT_RECONCILES", "--max-concurrent-reconciles", "two",
     "must be a whole number of at least 1"),
    ("ANSIBLE_VERBOSITY", "--ansible-verbosity", "-1", "must be a whole number of at least 0"),
    ("BATCH_WINDOW", "--batch-window", "nan", "must be a finite number of seconds of at least 0"),
    ("BATCH_WINDOW", "--batch-window", "-0.5", "must be a finite number of seconds of at least 0"),
    ("GRACEFUL_SHUTDOWN_TIMEOUT", "--graceful-shutdown-timeout", "inf",
     "must be a finite number of seconds of at least 0"),
    ("GRACEFUL_SHUTDOWN_TIMEOUT", "--graceful-shutdown-timeout", "1e400",
     "must be a finite number of seconds of at least 0"),
    ("METRICS_BIND_ADDRESS", "--metrics-bind-address", ":99999",
     "must be host:port or :port, the port from 0 to 65535, or 0 to disable"),
    ("HEALTH_PROBE_BIND_ADDRESS", "--health-probe-bind-address", "localhost",
     "must be host:port or :port, the port from 0 to 65535, or 0 to disable"),
])  # fmt: skip
def test_a_number_out_of_its_range_stops_the_start_naming_it(monkeypatch, capsys, env, flag, value, rule):
    line = refused(monkeypatch, capsys, {env: value})
    assert line == (
        f"hourglass-operator run: error: argument {flag}: '{value}' (the flag or env {env}) {rule} "
        "(see hourglass-operator run --help)"
    )
    flag_line = refused(monkeypatch, capsys, {}, flag, value)
    assert f"argument {flag}: '{value}'" in flag_line and rule in flag_line


def test_numbers_in_range_are_parsed(monkeypatch):
    args = parse(monkeypatch, {
        "MAX_BATCH_SIZE": "1000000", "MAX_CONCURRENT_RECONCILES": "4", "BATCH_WINDOW": "0",
        "GRACEFUL_SHUTDOWN_TIMEOUT": "1e10", "ANSIBLE_VERBOSITY": "3", "METRICS_BIND_ADDRESS": "[::1]:65535",
        "HEALTH_PROBE_BIND_ADDRESS": "0",
    })  # fmt: skip
    assert (args.max_batch_size, args.max_concurrent_reconciles, args.batch_window) == (1000000, 4, 0.0)
    assert (args.graceful_shutdown_timeout, args.ansible_verbosity) == (1e10, 3)
    assert (args.metrics_bind_address, args.health_probe_bind_address) == ("[::1]:65535", "0")


def test_an_empty_variable_means_the_default(monkeypatch, capsys):
    args = parse(monkeypatch, dict.fromkeys(ENV, ""))
    assert (args.max_concurrent_reconciles, args.max_batch_size, args.batch_window) == (1, 250, 0.25)
    assert (args.leader_elect, args.status_fast_path, args.warm_ansible) == (False, True, True)
    assert (args.graceful_shutdown_timeout, args.metrics_bind_address) == (60.0, ":8080")
    with pytest.raises(SystemExit) as exited:  # --help too
        parse(monkeypatch, {}, "--help")
    assert exited.value.code == 0 and "--max-concurrent-reconciles" in capsys.readouterr().out


@pytest.mark.parametrize("address", [":65536", ":-1", ":", "host"])
def test_an_address_without_a_port_from_0_to_65535_is_refused(address: str):
    with pytest.raises(ValueError, match="not host:port with a port from 0 to 65535"):
        health.split_address(address)
    assert health.split_address(":0") == ("", 0) and health.split_address("[::1]:80") == ("::1", 80)


def test_a_bare_port_binds_every_address_as_before(monkeypatch):
    """`METRICS_BIND_ADDRESS=8080` worked before these checks (as ":8080"); it must go on working."""
    args = parse(monkeypatch, {"METRICS_BIND_ADDRESS": "8080", "HEALTH_PROBE_BIND_ADDRESS": "8081"})
    assert (args.metrics_bind_address, args.health_probe_bind_address) == ("8080", "8081")
    assert health.split_address("8080") == ("", 8080)
