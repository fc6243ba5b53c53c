"""How an informer (informer.py) reports the list and watch requests that fail while it retries them:
each failure in one line (an API error as its status and the API server's message, not the client's
multi-line dump of the response), a failure like the last one at most once a minute with how many
there were meanwhile, and the recovery once a request succeeds again. An informer retries every
5 s for as long as the failure lasts (an API server outage, a CRD deleted): at one warning each,
that is 720 identical lines an hour per informer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import kubernetes
from ansible_collections.hourglass.operator.plugins.module_utils.hourglass_kube import api_message

log = logging.getLogger("hourglass_operator.informer")

REPEAT_SECONDS = 60.0  # the same failure is said again after this long
BODY_CHARS = 200  # of a response body that is not an API Status, what a line keeps


def describe(error: BaseException) -> str:
    """One line saying what failed: `404 Not Found: <the API server's message>` for an API error
    (with a hint when the resource is not served), the exception's text otherwise."""
    if not isinstance(error, kubernetes.client.ApiException):
        return " ".join(str(error).split()) or type(error).__name__
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body or "")
    try:
        message = api_message(json.loads(body))
    except ValueError:
        message = " ".join(body.split())[:BODY_CHARS]
    text = " ".join(str(part) for part in (error.status, error.reason) if part)
    if error.status == 404:
        message = f"{message} (the API server does not serve the resource: was its CRD deleted?)".strip()
    return f"{text}: {message}" if message else text


class FailureReport:
    """The failures of one informer's requests since its last success."""

    def __init__(self, informer: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.informer = informer
        self.clock = clock
        self.failures = 0  # since the last success
        self._said: str | None = None  # the failure last logged
        self._said_at = 0.0
        self._unsaid = 0  # failures like the one said since it was said

    def failed(self, error: BaseException, retry_in: float) -> None:
        self.failures += 1
        text, now = describe(error), self.clock()
        if text == self._said and now - self._said_at < REPEAT_SECONDS:
            self._unsaid += 1
            return
        again = f" ({self._unsaid + 1} times in {now - self._said_at:.0f} s)" if text == self._said else ""
        log.warning(
            "list/watch failed%s, retrying in %.1f s: %s", again, retry_in, text,
            extra={"informer": self.informer, "failures": self.failures},
        )  # fmt: skip
        self._said, self._said_at, self._unsaid = text, now, 0

    def succeeded(self) -> None:
        if self.failures:
            log.info(
                "list/watch works again after %d failed attempts", self.failures,
                extra={"informer": self.informer},
            )  # fmt: skip
        self.failures, self._said, self._unsaid = 0, None, 0
