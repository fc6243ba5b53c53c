"""`RpcChainReader`: the `ChainReader` over JSON-RPC (web3.py), `chain.type: rpc`.

The reads are the Go executor's (upstream contract §5), at the task's block (0: latest):

| read                  | calls                                                                      |
|-----------------------|----------------------------------------------------------------------------|
| `avs_config`          | AllocationManager.getAVSRegistrar(avs) → registrar.getAvsConfig()           |
| `operator_set_member` | getAVSRegistrar(avs) → registrar.getOperatorSocket(operator);               |
|                       | KeyRegistrar.getOperatorSetCurveType(opSet), getECDSAAddress / getBN254Key   |
| `message_hash`        | TaskMailbox.getMessageHash(taskHash, output)                               |
| `certificate_digest`  | BN254CertificateVerifier.calculateCertificateDigest(ts, msgHash);           |
|                       | ECDSA: keccak256(ECDSACertificateVerifier.calculateCertificateDigestBytes)   |

Round trips. The key reads do not wait for the curve type: both `getECDSAAddress` and
`getBN254Key` go out with it (the one for the other curve reverts with InvalidCurveType and is
ignored), so an operator's membership takes two round trips (registrar, then socket; curve and
keys ride along with the first), and a task's checks — the executor's membership, the AVS config
and the aggregator's key, issued together so that they share batches — take three, as three
JSON-RPC batches. What is read at a block is cached (jsonrpc.py), so a second task at the same
block reads nothing; but not an answer that says "absent" (no registrar, no curve type, no key) or
fails: its reads are dropped from the cache (`_reads`), since a block near the head can be
reorganised and the aggregator's retry must see the chain as it is then.

The pure functions (`getMessageHash`, the BN254 digest, the ECDSA digest given the verifier's
`domainSeparator()`) are computed locally (signing/layouts.py), after a one-time cross-check: the
first call of each asks the contract too (in one batch with `domainSeparator()`) and compares. The
verifier is an upgradeable proxy and its separator has the major version in it, so it is not kept
for good: a task's result is signed with the separator read at the task's own block (the latest one
for block 0), which, once this executor signed with ECDSA, the task's checks read in their first
batch (no extra round trip). Nothing one task reads changes what another task signs: a request whose
aggregator signature is not yet checked (its chain reads come first, to find the aggregator's key)
can name any block, and a separator kept "of the newest block seen" let such a request pick the one
every later task was signed with (a block beyond the head failed them all).
The Go executor calls the contract for both, two sequential round trips after every task ran; here
signing a result makes none. Measured against the devnet's Anvil on localhost
(tests/chain/test_rpc_chain_reader.py, a shared 2-core machine): a task's checks cost 3 round trips
and 3-9 ms cold, none and ~0.5 ms warm; to a hosted RPC every round trip adds the network's latency,
so the two saved ones matter more there. If a cross-check ever differs, the reader logs it and asks
the contract every time from then on: the contract's answer is the one that counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from hourglass_executor.chain import (
    BN254,
    ECDSA,
    AvsConfig,
    ChainReaderError,
    CurveType,
    OperatorNotRegisteredError,
    OperatorSetMember,
    UnknownOperatorSetError,
)
from hourglass_executor.chain.contracts import AbiDecodingError, ContractFunction, describe_revert, function
from hourglass_executor.chain.jsonrpc import JsonRpcClient, RpcError
from hourglass_executor.signing.keccak import keccak256
from hourglass_executor.signing.layouts import (
    bn254_certificate_digest,
    ecdsa_certificate_digest,
    result_message_hash,
    task_id_bytes,
)

log = logging.getLogger(__name__)

CURVE_BY_ENUM: Mapping[int, CurveType | None] = {0: None, 1: ECDSA, 2: BN254}
ZERO_ADDRESS = "0x" + "00" * 20

GET_AVS_REGISTRAR = function("AllocationManager", "getAVSRegistrar")
GET_AVS_CONFIG = function("TaskAVSRegistrar", "getAvsConfig")
GET_OPERATOR_SOCKET = function("TaskAVSRegistrar", "getOperatorSocket")
GET_CURVE_TYPE = function("KeyRegistrar", "getOperatorSetCurveType")
GET_BN254_KEY = function("KeyRegistrar", "getBN254Key")
GET_ECDSA_ADDRESS = function("KeyRegistrar", "getECDSAAddress")
GET_MESSAGE_HASH = function("TaskMailbox", "getMessageHash")
BN254_DIGEST = function("BN254CertificateVerifier", "calculateCertificateDigest")
ECDSA_DIGEST_BYTES = function("ECDSACertificateVerifier", "calculateCertificateDigestBytes")
DOMAIN_SEPARATOR = function("ECDSACertificateVerifier", "domainSeparator")

Reads = list[tuple[str, bytes]]  # the calls (contract, call data) an answer was read from


class RpcChainReader:
    """A `ChainReader` over JSON-RPC. `contracts` has the five addresses by their config key
    (allocationManager, keyRegistrar, taskMailbox, bn254CertificateVerifier, ecdsaCertificateVerifier)."""

    def __init__(
        self,
        url: str,
        contracts: Mapping[str, str],
        *,
        timeout: float = 10.0,
        retries: int = 3,
        cache_size: int = 4096,
        client: JsonRpcClient | None = None,
    ) -> None:
        self._rpc = client or JsonRpcClient(url, timeout=timeout, retries=retries, cache_size=cache_size)
        self._allocation_manager = contracts["allocationManager"].lower()
        self._key_registrar = contracts["keyRegistrar"].lower()
        self._task_mailbox = contracts["taskMailbox"].lower()
        self._bn254_verifier = contracts["bn254CertificateVerifier"].lower()
        self._ecdsa_verifier = contracts["ecdsaCertificateVerifier"].lower()
        self._signs_ecdsa = False  # an ECDSA digest was asked for: prefetch the separator with checks
        self._latest_separator: bytes | None = None  # read at the latest block (task block 0), newest
        # Which pure functions were cross-checked against the contract (True) or differ (False).
        self._local_ok: dict[str, bool] = {}

    @property
    def stats(self) -> Any:
        return self._rpc.stats

    async def endpoint_chain_id(self) -> int:
        """The chain id the endpoint serves (`eth_chainId`); start-up compares it with the configured one."""
        return await self._rpc.chain_id()

    @contextlib.contextmanager
    def _reads(self, block: int) -> Iterator[Reads]:
        """Collects the calls (`_call(..., reads=)`) of one answer at `block`, and drops them from the
        cache if the answer is an error: a negative answer is read again next time."""
        reads: Reads = []
        try:
            yield reads
        except Exception:
            for to, data in reads:
                self._rpc.forget(to, data, block)
            raise

    async def _call(
        self,
        to: str,
        fn: ContractFunction,
        args: tuple[Any, ...],
        block: int,
        reads: Reads | None = None,
    ) -> tuple[Any, ...]:
        where = f"{fn.contract}.{fn.name} at {to}" + (f", block {block}" if block else "")
        calldata = _calldata(fn, args)
        if reads is not None:
            reads.append((to, calldata))
        try:
            data = await self._rpc.eth_call(to, calldata, block)
        except RpcError as error:
            if error.revert_data is not None:
                raise RpcError(
                    f"{where} reverted: {describe_revert(fn.contract, error.revert_data)}",
                    revert_data=error.revert_data,
                ) from None
            raise RpcError(f"{where}: {error}", transient=error.transient) from None
        if not data:
            raise _NoCode(f"{where} returned no data (no contract there?)")
        try:
            return fn.decode(data)
        except AbiDecodingError as error:
            raise RpcError(f"{where}: {error}") from None

    # --- operator sets ------------------------------------------------------------------------------

    async def _registrar(self, avs: str, block: int, reads: Reads) -> str:
        (registrar,) = await self._call(self._allocation_manager, GET_AVS_REGISTRAR, (avs,), block, reads)
        registrar = registrar.lower()
        if registrar == ZERO_ADDRESS:
            raise UnknownOperatorSetError(f"AVS {avs.lower()} has no registrar")
        return registrar

    async def _registrar_call(
        self, avs: str, fn: ContractFunction, args: tuple[Any, ...], block: int, reads: Reads
    ) -> Any:
        registrar = await self._registrar(avs, block, reads)
        try:
            (value,) = await self._call(registrar, fn, args, block, reads)
        except _NoCode:
            raise UnknownOperatorSetError(
                f"AVS {avs.lower()} has no task registrar ({registrar} has no {fn.name})"
            ) from None
        return value

    async def avs_config(self, avs: str, block: int) -> AvsConfig:
        avs = avs.lower()  # one cache key however the address is spelt
        with self._reads(block) as reads:
            aggregator_set, executor_sets = await self._registrar_call(avs, GET_AVS_CONFIG, (), block, reads)
        return AvsConfig(int(aggregator_set), tuple(int(i) for i in executor_sets))

    async def operator_set_member(
        self, avs: str, operator_set_id: int, operator: str, block: int
    ) -> OperatorSetMember:
        avs, operator = avs.lower(), operator.lower()  # one cache key however the addresses are spelt
        with self._reads(block) as reads:
            return await self._operator_set_member(avs, operator_set_id, operator, block, reads)

    async def _operator_set_member(
        self, avs: str, operator_set_id: int, operator: str, block: int, reads: Reads
    ) -> OperatorSetMember:
        operator_set = (avs, operator_set_id)
        extra: list[Awaitable[None]] = []
        if self._signs_ecdsa:
            extra.append(self._prefetch_separator(block))
        socket, curve, bn254_key, ecdsa_address, *prefetched = await asyncio.gather(
            self._registrar_call(avs, GET_OPERATOR_SOCKET, (operator,), block, reads),
            self._call(self._key_registrar, GET_CURVE_TYPE, (operator_set,), block, reads),
            self._call(self._key_registrar, GET_BN254_KEY, (operator_set, operator), block, reads),
            self._call(self._key_registrar, GET_ECDSA_ADDRESS, (operator_set, operator), block, reads),
            *extra,
            return_exceptions=True,
        )
        for outcome in (*prefetched, curve, socket):  # a bug in the prefetch, then the Go executor's order
            if isinstance(outcome, BaseException):
                raise outcome
        curve_type = CURVE_BY_ENUM.get(int(curve[0]))
        where = f"operator set {operator_set_id} of AVS {avs.lower()}"
        if curve_type is None:
            if int(curve[0]) == 0:
                raise UnknownOperatorSetError(f"{where} has no curve type (it is not configured)")
            raise RpcError(
                f"KeyRegistrar.getOperatorSetCurveType: unknown curve type {int(curve[0])} for {where}"
            )
        key = bn254_key if curve_type == BN254 else ecdsa_address
        if isinstance(key, BaseException):
            raise key
        not_registered = OperatorNotRegisteredError(
            f"operator {operator.lower()} has no {curve_type} key in {where}"
        )
        if curve_type == ECDSA:
            address = key[0].lower()
            if address == ZERO_ADDRESS:
                raise not_registered
            return OperatorSetMember(operator.lower(), ECDSA, socket, address, None, None)
        (g1x, g1y), (g2x, g2y) = key
        if g1x == 0 and g1y == 0:
            raise not_registered
        from hourglass_executor.signing import bn254

        try:
            g1 = bn254.g1_from_solidity(g1x, g1y)
            g2 = bn254.g2_from_solidity(g2x, g2y)
        except bn254.Bn254Error as error:
            raise RpcError(
                f"KeyRegistrar.getBN254Key: the key of {operator.lower()} in {where} is invalid: {error}"
            ) from None
        return OperatorSetMember(operator.lower(), BN254, socket, None, g1, g2)

    # --- the pure functions, computed locally after a one-time cross-check ---------------------------

    async def _pure(
        self, name: str, local: Callable[[], Awaitable[bytes]], remote: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """`local()` once it was found equal to the contract's `remote()`; until then (and for good
        if they differed) the contract's value. Both run together the first time (one batch)."""
        verdict = self._local_ok.get(name)
        if verdict is True:
            return await local()
        if verdict is False:
            return await remote()
        local_value, remote_value = await asyncio.gather(local(), remote())
        if name not in self._local_ok:
            self._local_ok[name] = local_value == remote_value
            if local_value != remote_value:
                log.warning(
                    "the local computation differs from the contract's; calling the contract from now on",
                    extra={"function": name},
                )
        return remote_value

    async def message_hash(self, task_id: str, output: bytes) -> bytes:
        async def local() -> bytes:
            return result_message_hash(task_id, output)

        async def remote() -> bytes:
            args = (task_id_bytes(task_id), bytes(output))
            (value,) = await self._call(self._task_mailbox, GET_MESSAGE_HASH, args, 0)
            return bytes(value)

        return await self._pure("TaskMailbox.getMessageHash", local, remote)

    async def domain_separator(self, block: int = 0) -> bytes:
        """The ECDSA certificate verifier's `domainSeparator()` at `block`: cached by the JSON-RPC
        client for a block > 0; at the latest block, the newest value a task's checks read."""
        if block == 0 and self._latest_separator is not None:
            return self._latest_separator
        return await self._read_separator(block)

    async def _read_separator(self, block: int) -> bytes:
        with self._reads(block) as reads:
            (value,) = await self._call(self._ecdsa_verifier, DOMAIN_SEPARATOR, (), block, reads)
        separator = bytes(value)
        if block == 0:
            self._latest_separator = separator
        return separator

    async def _prefetch_separator(self, block: int) -> None:
        """Reads the separator at a task's block, with its checks; if that fails, signing reads it again
        and the task's checks are not affected."""
        try:
            await self._read_separator(block)
        except ChainReaderError as error:
            log.debug("cannot read the ECDSA verifier's domainSeparator()", extra={"reason": str(error)})

    async def certificate_digest(
        self, curve: CurveType, reference_timestamp: int, message_hash: bytes, block: int = 0
    ) -> bytes:
        args = (reference_timestamp, bytes(message_hash))
        if curve == BN254:

            async def bn254_local() -> bytes:
                return bn254_certificate_digest(reference_timestamp, message_hash)

            async def bn254_remote() -> bytes:
                (value,) = await self._call(self._bn254_verifier, BN254_DIGEST, args, 0)
                return bytes(value)

            return await self._pure(
                "BN254CertificateVerifier.calculateCertificateDigest", bn254_local, bn254_remote
            )
        if curve != ECDSA:
            raise ValueError(f"curve must be ECDSA or BN254, got {curve!r}")

        self._signs_ecdsa = True

        async def ecdsa_local() -> bytes:
            separator = await self.domain_separator(block)
            return ecdsa_certificate_digest(separator, reference_timestamp, message_hash)

        async def ecdsa_remote() -> bytes:
            (value,) = await self._call(self._ecdsa_verifier, ECDSA_DIGEST_BYTES, args, block)
            return keccak256(value)

        return await self._pure(
            "ECDSACertificateVerifier.calculateCertificateDigestBytes", ecdsa_local, ecdsa_remote
        )

    async def close(self) -> None:
        await self._rpc.close()


@functools.lru_cache(maxsize=4096)
def _calldata(fn: ContractFunction, args: tuple[Any, ...]) -> bytes:
    """Encoding costs ~35 µs; a task repeats the same calls (cached results need the same key)."""
    return fn.encode(*args)


class _NoCode(RpcError):
    """An eth_call answered with empty data: no contract (or no such function) at the address."""
