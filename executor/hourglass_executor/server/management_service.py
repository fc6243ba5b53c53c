"""ExecutorManagementService: deploy, list and remove performers; challenge tokens (contract §4).

Authentication (`authentication.enabled`): GetChallengeToken issues a single-use token (5 minutes)
to the configured operator address; every other call carries `auth` = the token and a signature
over keccak256(keccak256(utf8(token))) by the executor's signing key — ECDSA when configured, else
BN254 — (`auth.ChallengeTokens`). It is
checked before anything else, so an unauthenticated caller learns nothing (not even whether an
AVS is served here).

| condition                                                            | code              |
|----------------------------------------------------------------------|-------------------|
| auth enabled: token missing, malformed, unknown, used or expired;    | UNAUTHENTICATED   |
| signature malformed or not by the signing key                        |                   |
| GetChallengeToken for another address than the operator's            | PERMISSION_DENIED |
| GetChallengeToken with a malformed address                           | INVALID_ARGUMENT  |
| GetChallengeToken beyond the issuing bounds of the caller's address  | RESOURCE_EXHAUSTED |
| or of the executor (see `auth`); trailing metadata `retry-after`:    |                   |
| whole seconds to wait, also in the message ("...; retry in N s")     |                   |
| auth disabled, but a token sent (or GetChallengeToken called)        | UNIMPLEMENTED     |
| malformed avs_address, registry_url, digest, env entry               | INVALID_ARGUMENT  |
| DeployArtifact for an AVS not in `avsPerformers`                     | NOT_FOUND         |
| an env `value_from_env` not listed for the AVS (below)               | PERMISSION_DENIED |
| an env `value_from_env` the executor's environment lacks             | FAILED_PRECONDITION |
| the new performer did not become ready (the old one keeps serving)   | FAILED_PRECONDITION |
| the deploy was cancelled (its performer removed, or shutdown)        | ABORTED           |
| the backend failed otherwise                                         | INTERNAL          |
| RemovePerformer for an id that is neither in service nor staged      | NOT_FOUND         |
| DeployArtifact or RemovePerformer while the executor starts (health  | UNAVAILABLE       |
| NOT_SERVING until its performers are adopted or deployed), or a      |                   |
| RemovePerformer while it shuts down                                  |                   |

A RemovePerformer runs to its end even when its caller goes away (a deadline, the server's stop);
a second call for a performer being removed answers once that removal is done.

DeployArtifact builds the performer from the request, falling back to the AVS's configuration:
the image repository is `registry_url` (it may end in `:tag`; without a tag the configured tag is
used); a `digest` (`sha256:…`) makes the performer run `repository@digest`; env entries are the
configured ones overridden by name by the request's (`value`; `value_from_env`, resolved from the
executor's own environment, but only a variable the AVS's `avsPerformers[].envs` already pass with
`valueFromEnv`: the executor's environment holds its own secrets, such as a keystore's
`passwordEnv`, which no caller may copy into an image it chooses; `kubernetes_env` Secret/ConfigMap
references, kubernetes mode only);
`kubernetes.service_account_name` overrides the configured one. Upstream creates a Docker performer
for any AVS and ignores the digest; this executor does neither.

Refused GetChallengeToken calls are logged at most once per `FLOOD_LOG_INTERVAL` (with the number
refused since the last line), and other refused calls at most 50 per 10 s of one method and code
(`log_limit.py`), so a flood cannot flood the log too.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from hourglass_executor.api.eigenlayer.hourglass.v1.executor import executor_pb2, executor_pb2_grpc
from hourglass_executor.auth import (
    ChallengeTokens,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    requester_of,
)
from hourglass_executor.performers.base import EnvVar, NotReadyError, PerformerSpec
from hourglass_executor.performers.pool import (
    DeployCancelledError,
    DeployError,
    PerformerPool,
    PoolNotServingError,
    UnknownAvsError,
    UnknownPerformerError,
)
from hourglass_executor.server.log_limit import LogLimit
from hourglass_executor.server.refusal import Refusal
from hourglass_executor.validation import (
    image_repository_problem,
    is_address,
    is_config_key,
    is_dns1123_subdomain,
    is_env_name,
    is_image_digest,
    is_image_tag,
    split_image_reference,
)

log = logging.getLogger(__name__)

Code = grpc.StatusCode
FLOOD_LOG_INTERVAL = 10.0  # seconds between log lines about refused token requests


Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _refusals(method: Handler) -> Handler:
    """Turns a Refusal raised by the wrapped handler into `context.abort`."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except Refusal as refusal:
            if refusal.code is not Code.RESOURCE_EXHAUSTED:  # logged by _flood_log
                self._log_limit.log(
                    logging.INFO,
                    "management call refused",
                    {"rpc": method.__name__, "code": refusal.code.name},
                    {"reason": refusal.message},
                )
            await context.abort(refusal.code, refusal.message, trailing_metadata=refusal.trailing_metadata)

    return handler


class ManagementService(executor_pb2_grpc.ExecutorManagementServiceServicer):
    def __init__(
        self,
        *,
        pool: PerformerPool,
        tokens: ChallengeTokens | None,
        deployment_mode: str,
        environ: Mapping[str, str] = os.environ,
        env_from_executor: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """`tokens` None means authentication is disabled; `env_from_executor` has, by lower-case
        AVS address, the variables of `environ` its performers may be given (`valueFromEnv`)."""
        self._pool = pool
        self._tokens = tokens
        self._kubernetes = deployment_mode == "kubernetes"
        self._environ = environ
        self._env_from_executor = dict(env_from_executor or {})
        self._refused_tokens = 0
        self._refused_logged_at = -FLOOD_LOG_INTERVAL
        self._log_limit = LogLimit(log)

    # --- RPCs ----------------------------------------------------------------------------------

    @_refusals
    async def GetChallengeToken(
        self, request: executor_pb2.GetChallengeTokenRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.GetChallengeTokenResponse:
        if self._tokens is None:
            raise Refusal(Code.UNIMPLEMENTED, "authentication is not enabled on this executor")
        if not is_address(request.operator_address):
            raise Refusal(Code.INVALID_ARGUMENT, 'operator_address must be "0x" followed by 40 hex digits')
        requester = requester_of(context.peer())
        try:
            token, expires_at = self._tokens.issue(request.operator_address, requester)
        except PermissionDeniedError as error:
            raise Refusal(Code.PERMISSION_DENIED, str(error)) from None
        except RateLimitedError as error:
            self._flood_log(requester, str(error))
            raise Refusal(
                Code.RESOURCE_EXHAUSTED,
                str(error),
                trailing_metadata=(("retry-after", str(error.retry_after)),),
            ) from None
        return executor_pb2.GetChallengeTokenResponse(challenge_token=token, expires_at=expires_at)

    @_refusals
    async def DeployArtifact(
        self, request: executor_pb2.DeployArtifactRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.DeployArtifactResponse:
        self._authenticate(request)
        avs = _avs(request.avs_address, required=True)
        if not self._pool.serves(avs):
            raise Refusal(Code.NOT_FOUND, f"AVS {avs} is not configured on this executor (avsPerformers)")
        spec = self._spec(request, avs)
        log.info("deploy requested", extra={"avs": avs, "image": spec.image})
        try:
            live = await self._pool.deploy(spec)
        except UnknownAvsError as error:
            raise Refusal(Code.NOT_FOUND, str(error)) from None
        except PoolNotServingError as error:
            raise Refusal(Code.UNAVAILABLE, str(error)) from None
        except DeployCancelledError as error:
            raise Refusal(Code.ABORTED, str(error)) from None
        except DeployError as error:
            code = Code.FAILED_PRECONDITION if isinstance(error.__cause__, NotReadyError) else Code.INTERNAL
            raise Refusal(code, str(error)) from None
        return executor_pb2.DeployArtifactResponse(
            success=True,
            message=f"performer {live.performer_id} ({spec.image}) is in service for AVS {avs}",
            deployment_id=live.performer_id,
        )

    @_refusals
    async def ListPerformers(
        self, request: executor_pb2.ListPerformersRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.ListPerformersResponse:
        self._authenticate(request)
        avs = _avs(request.avs_address, required=False)
        entries = await self._pool.list(avs or None)
        return executor_pb2.ListPerformersResponse(
            performers=[
                executor_pb2.Performer(
                    performer_id=entry.performer_id,
                    avs_address=entry.avs_address,
                    status=entry.status,
                    artifact_registry=entry.artifact_registry,
                    artifact_digest=entry.artifact_digest,
                    resource_healthy=entry.resource_healthy,
                    application_healthy=entry.application_healthy,
                    last_health_check=entry.last_health_check,
                    container_id=entry.container_id,
                    artifact_tag=entry.artifact_tag,
                )
                for entry in entries
            ]
        )

    @_refusals
    async def RemovePerformer(
        self, request: executor_pb2.RemovePerformerRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.RemovePerformerResponse:
        self._authenticate(request)
        if not request.performer_id:
            raise Refusal(Code.INVALID_ARGUMENT, "performer_id is required")
        try:
            await self._pool.remove(request.performer_id)
        except UnknownPerformerError as error:
            raise Refusal(Code.NOT_FOUND, str(error)) from None
        except PoolNotServingError as error:
            raise Refusal(Code.UNAVAILABLE, str(error)) from None
        return executor_pb2.RemovePerformerResponse(
            success=True, message=f"performer {request.performer_id} removed"
        )

    # --- helpers -------------------------------------------------------------------------------

    def _flood_log(self, requester: str, reason: str) -> None:
        self._refused_tokens += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= FLOOD_LOG_INTERVAL:
            log.warning(
                "challenge tokens refused",
                extra={"requester": requester, "refused": self._refused_tokens, "reason": reason},
            )
            self._refused_tokens = 0
            self._refused_logged_at = now

    def _authenticate(
        self,
        request: executor_pb2.DeployArtifactRequest
        | executor_pb2.ListPerformersRequest
        | executor_pb2.RemovePerformerRequest,
    ) -> None:
        sent = request.HasField("auth") and bool(request.auth.challenge_token or request.auth.signature)
        if self._tokens is None:
            if sent:
                raise Refusal(
                    Code.UNIMPLEMENTED, "authentication is not enabled on this executor; send no auth"
                )
            return
        if not sent:
            raise Refusal(
                Code.UNAUTHENTICATED,
                "missing challenge token: call GetChallengeToken and send the token with its signature "
                "(a client that sends none, such as hgctl, needs authentication.enabled: false on this "
                "executor, with its management port reachable only by you)",
            )
        try:
            self._tokens.verify(request.auth.challenge_token, request.auth.signature)
        except UnauthenticatedError as error:
            raise Refusal(Code.UNAUTHENTICATED, str(error)) from None

    def _spec(self, request: executor_pb2.DeployArtifactRequest, avs: str) -> PerformerSpec:
        configured = self._pool.configured_spec(avs)
        repository, tag = _registry(request.registry_url, configured)
        digest = request.digest or None
        if digest is not None and not is_image_digest(digest):
            raise Refusal(
                Code.INVALID_ARGUMENT, "digest must be an image digest such as sha256:<64 hex digits>"
            )
        if tag is None and digest is None:
            raise Refusal(
                Code.INVALID_ARGUMENT,
                "registry_url has no tag, no digest is given and the AVS has no configured image tag",
            )
        env = {var.name: var for var in (configured.env if configured else ())}
        for index, entry in enumerate(request.env):
            var = self._env(index, entry, avs)
            env[var.name] = var
        service_account = request.kubernetes.service_account_name or (
            configured.service_account_name if configured else None
        )
        if service_account and not is_dns1123_subdomain(service_account):
            raise Refusal(
                Code.INVALID_ARGUMENT, "kubernetes.service_account_name must be a DNS-1123 subdomain"
            )
        return PerformerSpec(
            avs_address=avs,
            repository=repository,
            tag=tag or "",
            digest=digest,
            env=tuple(env.values()),
            service_account_name=service_account or None,
            endpoint_override=configured.endpoint_override if configured else None,
        )

    def _env(self, index: int, entry: executor_pb2.PerformerEnv, avs: str) -> EnvVar:
        where = f"env[{index}]"
        if not is_env_name(entry.name):
            raise Refusal(
                Code.INVALID_ARGUMENT, f"{where}.name must be printable ASCII without '=' (and not empty)"
            )
        has_refs = entry.HasField("kubernetes_env")
        sources = [
            s for s, given in (("value", entry.value), ("value_from_env", entry.value_from_env)) if given
        ]
        if has_refs:
            sources.append("kubernetes_env")
        if len(sources) > 1:
            raise Refusal(
                Code.INVALID_ARGUMENT,
                f"{where} ({entry.name}): set one of value, value_from_env, kubernetes_env "
                f"(found: {', '.join(sources)})",
            )
        if entry.value_from_env:
            if entry.value_from_env not in self._env_from_executor.get(avs, frozenset()):
                raise Refusal(
                    Code.PERMISSION_DENIED,
                    f"{where}.value_from_env ({entry.name}): only a variable that avsPerformers[].envs "
                    f"pass to AVS {avs} with valueFromEnv may be given from the executor's environment",
                )
            value = self._environ.get(entry.value_from_env)
            if value is None:
                raise Refusal(
                    Code.FAILED_PRECONDITION,
                    f"{where} ({entry.name}): the executor's environment has no {entry.value_from_env}",
                )
            return EnvVar(entry.name, value=value)
        if has_refs:
            return self._reference(where, entry)
        return EnvVar(entry.name, value=entry.value)

    def _reference(self, where: str, entry: executor_pb2.PerformerEnv) -> EnvVar:
        if not self._kubernetes:
            raise Refusal(
                Code.INVALID_ARGUMENT, f"{where} ({entry.name}): kubernetes_env needs kubernetes mode"
            )
        value_from = entry.kubernetes_env.value_from
        secret, config_map = value_from.HasField("secret_key_ref"), value_from.HasField("config_map_key_ref")
        if secret == config_map:
            raise Refusal(
                Code.INVALID_ARGUMENT,
                f"{where} ({entry.name}): kubernetes_env.value_from needs exactly one of "
                "secret_key_ref, config_map_key_ref",
            )
        ref = value_from.secret_key_ref if secret else value_from.config_map_key_ref
        if not is_dns1123_subdomain(ref.name) or not is_config_key(ref.key):
            raise Refusal(
                Code.INVALID_ARGUMENT,
                f"{where} ({entry.name}): the reference needs a DNS-1123 name and a key of "
                "alphanumerics, '-', '_' or '.'",
            )
        if secret:
            return EnvVar(entry.name, secret_key_ref=(ref.name, ref.key))
        return EnvVar(entry.name, config_map_key_ref=(ref.name, ref.key))


def _avs(value: str, *, required: bool) -> str:
    if not value and not required:
        return ""
    if not is_address(value):
        raise Refusal(Code.INVALID_ARGUMENT, 'avs_address must be "0x" followed by 40 hex digits')
    return value.lower()


def _registry(registry_url: str, configured: PerformerSpec | None) -> tuple[str, str | None]:
    """(repository, tag or None) from `registry_url` ("repository[:tag]"), else the configuration."""
    if not registry_url:
        if configured is None:
            raise Refusal(Code.INVALID_ARGUMENT, "registry_url is required (the AVS has no configured image)")
        return configured.repository, configured.tag or None
    if registry_url.startswith(("http://", "https://")) or image_repository_problem(
        registry_url, tag_allowed=True
    ):
        raise Refusal(
            Code.INVALID_ARGUMENT,
            "registry_url must be an image repository, optionally with :tag (no scheme, no @digest: "
            "use the digest field)",
        )
    repository, tag = split_image_reference(registry_url)
    if tag is not None:
        if not repository.rsplit("/", 1)[-1] or not is_image_tag(tag):
            raise Refusal(Code.INVALID_ARGUMENT, f"registry_url has an invalid tag {tag!r}")
        return repository, tag
    return registry_url, (configured.tag if configured and configured.tag else None)
