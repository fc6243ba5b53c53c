"""`SteadyClock`: unix time that moves only as the monotonic clock does.

What the executor measures against wall-clock time (how long a task id is kept, when a challenge
token expires) must not jump when the machine's clock is stepped: a step forward of a day (a VM
resumed with the wrong time, NTP correcting a bad clock at boot) would forget every task id at
once, so a retry would run a task that already ran; a step back would keep expired tokens valid.
The clock starts at the wall time of its creation (or at `start`) and then follows
`time.monotonic()`; a stored timestamp it wrote stays comparable with it after a restart, when the
next clock starts from the wall time again.
"""

from __future__ import annotations

import time


class SteadyClock:
    def __init__(self, start: float | None = None) -> None:
        self._start = time.time() if start is None else start
        self._monotonic = time.monotonic()

    def __call__(self) -> float:
        return self._start + (time.monotonic() - self._monotonic)
