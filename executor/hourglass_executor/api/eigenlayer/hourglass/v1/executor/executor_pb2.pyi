from hourglass_executor.api.eigenlayer.hourglass.v1.common import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskSubmission(_message.Message):
    __slots__ = ("task_id", "aggregator_address", "avs_address", "payload", "signature", "operator_set_id", "reference_timestamp", "executor_address", "task_block_number", "version")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AVS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_SET_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    aggregator_address: str
    avs_address: str
    payload: bytes
    signature: bytes
    operator_set_id: int
    reference_timestamp: int
    executor_address: str
    task_block_number: int
    version: int
    def __init__(self, task_id: _Optional[str] = ..., aggregator_address: _Optional[str] = ..., avs_address: _Optional[str] = ..., payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., operator_set_id: _Optional[int] = ..., reference_timestamp: _Optional[int] = ..., executor_address: _Optional[str] = ..., task_block_number: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("task_id", "operator_address", "output", "result_signature", "avs_address", "operator_set_id", "auth_signature", "version")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RESULT_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    AVS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_SET_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    operator_address: str
    output: bytes
    result_signature: bytes
    avs_address: str
    operator_set_id: int
    auth_signature: bytes
    version: int
    def __init__(self, task_id: _Optional[str] = ..., operator_address: _Optional[str] = ..., output: _Optional[bytes] = ..., result_signature: _Optional[bytes] = ..., avs_address: _Optional[str] = ..., operator_set_id: _Optional[int] = ..., auth_signature: _Optional[bytes] = ..., version: _Optional[int] = ...) -> None: ...

class KubernetesConfig(_message.Message):
    __slots__ = ("service_account_name",)
    SERVICE_ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    service_account_name: str
    def __init__(self, service_account_name: _Optional[str] = ...) -> None: ...

class DeployArtifactRequest(_message.Message):
    __slots__ = ("avs_address", "digest", "registry_url", "env", "kubernetes", "auth")
    AVS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_URL_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    KUBERNETES_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    avs_address: str
    digest: str
    registry_url: str
    env: _containers.RepeatedCompositeFieldContainer[PerformerEnv]
    kubernetes: KubernetesConfig
    auth: _auth_pb2.AuthSignature
    def __init__(self, avs_address: _Optional[str] = ..., digest: _Optional[str] = ..., registry_url: _Optional[str] = ..., env: _Optional[_Iterable[_Union[PerformerEnv, _Mapping]]] = ..., kubernetes: _Optional[_Union[KubernetesConfig, _Mapping]] = ..., auth: _Optional[_Union[_auth_pb2.AuthSignature, _Mapping]] = ...) -> None: ...

class DeployArtifactResponse(_message.Message):
    __slots__ = ("success", "message", "deployment_id")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    deployment_id: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., deployment_id: _Optional[str] = ...) -> None: ...

class ListPerformersRequest(_message.Message):
    __slots__ = ("avs_address", "auth")
    AVS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    avs_address: str
    auth: _auth_pb2.AuthSignature
    def __init__(self, avs_address: _Optional[str] = ..., auth: _Optional[_Union[_auth_pb2.AuthSignature, _Mapping]] = ...) -> None: ...

class ListPerformersResponse(_message.Message):
    __slots__ = ("performers",)
    PERFORMERS_FIELD_NUMBER: _ClassVar[int]
    performers: _containers.RepeatedCompositeFieldContainer[Performer]
    def __init__(self, performers: _Optional[_Iterable[_Union[Performer, _Mapping]]] = ...) -> None: ...

class Performer(_message.Message):
    __slots__ = ("performer_id", "avs_address", "status", "artifact_registry", "artifact_digest", "resource_healthy", "application_healthy", "last_health_check", "container_id", "artifact_tag")
    PERFORMER_ID_FIELD_NUMBER: _ClassVar[int]
    AVS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_REGISTRY_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    LAST_HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_TAG_FIELD_NUMBER: _ClassVar[int]
    performer_id: str
    avs_address: str
    status: str
    artifact_registry: str
    artifact_digest: str
    resource_healthy: bool
    application_healthy: bool
    last_health_check: str
    container_id: str
    artifact_tag: str
    def __init__(self, performer_id: _Optional[str] = ..., avs_address: _Optional[str] = ..., status: _Optional[str] = ..., artifact_registry: _Optional[str] = ..., artifact_digest: _Optional[str] = ..., resource_healthy: _Optional[bool] = ..., application_healthy: _Optional[bool] = ..., last_health_check: _Optional[str] = ..., container_id: _Optional[str] = ..., artifact_tag: _Optional[str] = ...) -> None: ...

class PerformerEnv(_message.Message):
    __slots__ = ("name", "value", "value_from_env", "kubernetes_env")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FROM_ENV_FIELD_NUMBER: _ClassVar[int]
    KUBERNETES_ENV_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    value_from_env: str
    kubernetes_env: KubernetesEnv
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., value_from_env: _Optional[str] = ..., kubernetes_env: _Optional[_Union[KubernetesEnv, _Mapping]] = ...) -> None: ...

class KubernetesEnv(_message.Message):
    __slots__ = ("value_from",)
    VALUE_FROM_FIELD_NUMBER: _ClassVar[int]
    value_from: EnvValueFrom
    def __init__(self, value_from: _Optional[_Union[EnvValueFrom, _Mapping]] = ...) -> None: ...

class EnvValueFrom(_message.Message):
    __slots__ = ("secret_key_ref", "config_map_key_ref")
    SECRET_KEY_REF_FIELD_NUMBER: _ClassVar[int]
    CONFIG_MAP_KEY_REF_FIELD_NUMBER: _ClassVar[int]
    secret_key_ref: SecretKeyRef
    config_map_key_ref: ConfigMapKeyRef
    def __init__(self, secret_key_ref: _Optional[_Union[SecretKeyRef, _Mapping]] = ..., config_map_key_ref: _Optional[_Union[ConfigMapKeyRef, _Mapping]] = ...) -> None: ...

class SecretKeyRef(_message.Message):
    __slots__ = ("name", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class ConfigMapKeyRef(_message.Message):
    __slots__ = ("name", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class RemovePerformerRequest(_message.Message):
    __slots__ = ("performer_id", "auth")
    PERFORMER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    performer_id: str
    auth: _auth_pb2.AuthSignature
    def __init__(self, performer_id: _Optional[str] = ..., auth: _Optional[_Union[_auth_pb2.AuthSignature, _Mapping]] = ...) -> None: ...

class RemovePerformerResponse(_message.Message):
    __slots__ = ("success", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class GetChallengeTokenRequest(_message.Message):
    __slots__ = ("operator_address",)
    OPERATOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    operator_address: str
    def __init__(self, operator_address: _Optional[str] = ...) -> None: ...

class GetChallengeTokenResponse(_message.Message):
    __slots__ = ("challenge_token", "expires_at")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    expires_at: int
    def __init__(self, challenge_token: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...
