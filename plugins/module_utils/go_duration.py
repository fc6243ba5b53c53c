"""Go durations (`5s`, `1m30s`, `250ms`): what the operator-sdk ansible-operator parses the
requeue_after module's period with (time.ParseDuration), checked before it gets there."""

from __future__ import annotations

import re

GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+")


def duration_error(period: str) -> str | None:
    """Why `period` is not a Go duration, or None when it is one."""
    if GO_DURATION.fullmatch(period):
        return None
    return f"period: {period!r} is not a Go duration such as 5s or 1m30s"
