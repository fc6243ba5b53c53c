"""A RestClient (`plugins/module_utils/kube_rest.py`) that answers from a function instead of an API
server, for unit tests of code that calls the API through `hourglass_kube.request`: it records
every call (method, path, content type, decoded JSON body) and returns what
`answer(method, path, content type, body)` says."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ansible_collections.hourglass.operator.plugins.module_utils.kube_rest import RestClient

# (method, path, content type, body) -> (HTTP status, body)
Answer = Callable[[str, str, str, Any], tuple[int, Any]]


class FakeRest(RestClient):
    def __init__(self, answer: Answer) -> None:  # no connection settings: nothing is dialled
        self.answer = answer
        self.calls: list[tuple[str, str, str, Any]] = []

    def send(self, method: str, path: str, query: list | None, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes, str | None]:  # fmt: skip
        decoded = json.loads(body) if body else None
        content_type = headers.get("Content-Type", "")
        self.calls.append((method, path, content_type, decoded))
        status, answer = self.answer(method, path, content_type, decoded)
        return status, b"" if answer is None else json.dumps(answer).encode(), None  # no Retry-After
