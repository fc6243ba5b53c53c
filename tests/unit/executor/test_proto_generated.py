"""The generated gRPC stubs match the wire format of the upstream contract (§4), and the generator's
--check reports what is stale (`make lint` runs it on the committed stubs)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hourglass_executor.api.eigenlayer.hourglass.v1.common import auth_pb2
from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.api.eigenlayer.hourglass.v1.performer import performer_pb2, performer_pb2_grpc

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
GENERATE = ROOT / "hack" / "proto" / "generate.py"
API_DIR = ROOT / "executor" / "hourglass_executor" / "api"

STRING, BYTES, BOOL = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_BOOL
UINT32, UINT64, INT64 = FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT64
MESSAGE = FieldDescriptor.TYPE_MESSAGE


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATE), *args], capture_output=True, text=True, check=False, timeout=120
    )


def fields(message: type) -> dict[int, tuple[str, int]]:
    return {f.number: (f.name, f.type) for f in message.DESCRIPTOR.fields}


def test_check_reports_each_stale_file(tmp_path):
    out = tmp_path / "api"
    shutil.copytree(API_DIR, out, ignore=shutil.ignore_patterns("__pycache__"))
    (out / "eigenlayer/hourglass/v1/executor/executor_pb2.py").write_text("# edited by hand\n")
    (out / "eigenlayer/hourglass/v1/performer/performer_pb2.pyi").unlink()
    (out / "eigenlayer/hourglass/v1/stray_pb2.py").write_text("")

    result = generate("--check", "--out", str(out))

    assert result.returncode == 1
    assert "is stale; run `python hack/proto/generate.py`" in result.stderr
    assert "out of date: eigenlayer/hourglass/v1/executor/executor_pb2.py" in result.stderr
    assert "missing: eigenlayer/hourglass/v1/performer/performer_pb2.pyi" in result.stderr
    assert "not generated (remove it): eigenlayer/hourglass/v1/stray_pb2.py" in result.stderr


def test_generation_writes_what_check_expects(tmp_path):
    out = tmp_path / "api"
    assert generate("--out", str(out)).returncode == 0
    assert generate("--check", "--out", str(out)).returncode == 0
    generated = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(API_DIR).as_posix()
        for p in API_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert generated == committed


def test_no_top_level_eigenlayer_package():
    # The stubs import each other through hourglass_executor.api, never a top-level `eigenlayer`.
    assert "eigenlayer" not in sys.modules
    assert importlib.util.find_spec("eigenlayer") is None
    for path in [*API_DIR.rglob("*.py"), *API_DIR.rglob("*.pyi")]:  # not the bytecode in __pycache__
        for line in path.read_text().splitlines():
            assert not line.startswith(("from eigenlayer", "import eigenlayer")), f"{path}: {line}"
    assert (
        executor_pb2.TaskSubmission.__module__
        == "hourglass_executor.api.eigenlayer.hourglass.v1.executor.executor_pb2"
    )


def test_service_names_and_methods():
    executor = executor_pb2.DESCRIPTOR.services_by_name["ExecutorService"]
    management = executor_pb2.DESCRIPTOR.services_by_name["ExecutorManagementService"]
    performer = performer_pb2.DESCRIPTOR.services_by_name["PerformerService"]
    assert executor.full_name == "eigenlayer.hourglass.v1.ExecutorService"
    assert management.full_name == "eigenlayer.hourglass.v1.ExecutorManagementService"
    assert performer.full_name == "eigenlayer.hourglass.v1.performer.PerformerService"

    def signatures(service: object) -> dict[str, tuple[str, str]]:
        return {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods}

    v1 = "eigenlayer.hourglass.v1."
    assert signatures(executor) == {"SubmitTask": (v1 + "TaskSubmission", v1 + "TaskResult")}
    assert signatures(management) == {
        "DeployArtifact": (v1 + "DeployArtifactRequest", v1 + "DeployArtifactResponse"),
        "ListPerformers": (v1 + "ListPerformersRequest", v1 + "ListPerformersResponse"),
        "RemovePerformer": (v1 + "RemovePerformerRequest", v1 + "RemovePerformerResponse"),
        "GetChallengeToken": (v1 + "GetChallengeTokenRequest", v1 + "GetChallengeTokenResponse"),
    }
    p = "eigenlayer.hourglass.v1.performer."
    assert signatures(performer) == {
        "StartSync": (p + "StartSyncRequest", p + "StartSyncResponse"),
        "ExecuteTask": (p + "TaskRequest", p + "TaskResponse"),
    }
    # The stubs call the methods by these HTTP/2 paths.
    assert hasattr(executor_pb2_grpc, "ExecutorServiceStub")
    assert hasattr(executor_pb2_grpc, "ExecutorManagementServiceServicer")
    assert hasattr(performer_pb2_grpc, "PerformerServiceStub")


def test_task_submission_and_result_fields():
    assert fields(executor_pb2.TaskSubmission) == {
        1: ("task_id", STRING),
        2: ("aggregator_address", STRING),
        3: ("avs_address", STRING),
        4: ("payload", BYTES),
        5: ("signature", BYTES),
        6: ("operator_set_id", UINT32),
        7: ("reference_timestamp", UINT32),
        8: ("executor_address", STRING),
        9: ("task_block_number", UINT64),
        10: ("version", UINT32),
    }
    assert fields(executor_pb2.TaskResult) == {
        1: ("task_id", STRING),
        2: ("operator_address", STRING),
        3: ("output", BYTES),
        4: ("result_signature", BYTES),
        5: ("avs_address", STRING),
        6: ("operator_set_id", UINT32),
        7: ("auth_signature", BYTES),
        8: ("version", UINT32),
    }


def test_management_messages():
    deploy = executor_pb2.DeployArtifactRequest.DESCRIPTOR
    assert fields(executor_pb2.DeployArtifactRequest) == {
        1: ("avs_address", STRING),
        2: ("digest", STRING),
        3: ("registry_url", STRING),
        4: ("env", MESSAGE),
        5: ("kubernetes", MESSAGE),
        6: ("auth", MESSAGE),
    }
    assert (
        deploy.fields_by_name["auth"].message_type.full_name == "eigenlayer.hourglass.v1.common.AuthSignature"
    )
    assert deploy.fields_by_name["env"].is_repeated
    assert deploy.fields_by_name["env"].message_type.full_name == "eigenlayer.hourglass.v1.PerformerEnv"
    assert fields(executor_pb2.Performer) == {
        1: ("performer_id", STRING),
        2: ("avs_address", STRING),
        3: ("status", STRING),
        4: ("artifact_registry", STRING),
        5: ("artifact_digest", STRING),
        6: ("resource_healthy", BOOL),
        7: ("application_healthy", BOOL),
        8: ("last_health_check", STRING),
        9: ("container_id", STRING),
        10: ("artifact_tag", STRING),
    }
    assert fields(executor_pb2.PerformerEnv) == {
        1: ("name", STRING),
        2: ("value", STRING),
        3: ("value_from_env", STRING),
        4: ("kubernetes_env", MESSAGE),
    }
    assert fields(executor_pb2.EnvValueFrom) == {
        1: ("secret_key_ref", MESSAGE),
        2: ("config_map_key_ref", MESSAGE),
    }
    assert fields(executor_pb2.GetChallengeTokenResponse) == {
        1: ("challenge_token", STRING),
        2: ("expires_at", INT64),
    }
    for name in ("ListPerformersRequest", "RemovePerformerRequest"):
        auth = executor_pb2.DESCRIPTOR.message_types_by_name[name].fields_by_name["auth"]
        assert (auth.number, auth.message_type.full_name) == (
            2,
            "eigenlayer.hourglass.v1.common.AuthSignature",
        )
    assert auth_pb2.AuthSignature.DESCRIPTOR.full_name == "eigenlayer.hourglass.v1.common.AuthSignature"
    assert fields(auth_pb2.AuthSignature) == {1: ("challenge_token", STRING), 2: ("signature", BYTES)}


def test_performer_messages_and_enum():
    assert fields(performer_pb2.TaskRequest) == {1: ("task_id", BYTES), 2: ("payload", BYTES)}
    assert fields(performer_pb2.TaskResponse) == {1: ("task_id", BYTES), 2: ("result", BYTES)}
    assert fields(performer_pb2.StartSyncRequest) == {1: ("payload", BYTES)}
    assert fields(performer_pb2.StartSyncResponse) == {}
    status = performer_pb2.DESCRIPTOR.enum_types_by_name["PerformerStatus"]
    assert {v.name: v.number for v in status.values} == {"READY_FOR_SYNC": 0, "READY_FOR_TASK": 1}


def test_wire_bytes():
    # Field 1 (string, tag 0x0a) and field 10 (varint, tag 0x50), encoded by hand.
    assert (
        executor_pb2.TaskSubmission(task_id="0x01", version=1).SerializeToString() == b"\x0a\x040x01\x50\x01"
    )
    # A performer echoes task_id as bytes in field 1.
    request = performer_pb2.TaskRequest.FromString(b"\x0a\x020x\x12\x01\xff")
    assert (request.task_id, request.payload) == (b"0x", b"\xff")
