"""Tests of the local chain (hack/devnet): no Kubernetes, a real Anvil. Marked `chain` (tests/conftest.py)."""

from tests.support.chain import devnet, fresh_devnet  # noqa: F401
