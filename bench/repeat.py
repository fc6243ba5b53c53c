"""Repeated benchmark runs: the median of every number the runs have in common (a machine shared with
other work makes single runs noisy; each configuration runs at least twice)."""

from __future__ import annotations

import math
import statistics
from typing import Any


def median_of(runs: list[Any]) -> Any:
    """The element-wise median of the runs' results: numbers -> their median (NaNs left out), dicts ->
    per key present in every run, anything else (lists, strings) -> left out (None)."""
    if not runs:
        return None
    if all(isinstance(r, bool) for r in runs):
        return None
    if all(isinstance(r, (int, float)) for r in runs):
        values = [float(r) for r in runs if not math.isnan(r)]
        return round(statistics.median(values), 4) if values else float("nan")
    if all(isinstance(r, dict) for r in runs):
        keys = [k for k in runs[0] if all(k in r for r in runs[1:])]
        medians = {k: median_of([r[k] for r in runs]) for k in keys}
        return {k: v for k, v in medians.items() if v is not None}
    return None
