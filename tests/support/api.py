"""Small helpers over the Kubernetes client for tests: reads where "not found" is an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes


def read_or_none(read: Callable[..., Any], *args: Any) -> Any:
    """`read(*args)`, or None when the API server answers 404 (any other error is raised)."""
    try:
        return read(*args)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise


def exists(read: Callable[..., Any], *args: Any) -> bool:
    """Whether `read(*args)` finds the object."""
    return read_or_none(read, *args) is not None
