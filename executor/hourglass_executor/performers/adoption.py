"""Which performer an executor keeps for an AVS when it starts again: the rule `PerformerPool.start`
applies to the performers the backend says this executor owns, with the store's records."""

from __future__ import annotations

from collections.abc import Mapping

from hourglass_executor.performers.base import Deployment, PerformerSpec
from hourglass_executor.performers.live import image_of
from hourglass_executor.store import PerformerRecord


def choose(
    candidates: list[Deployment], records: Mapping[str, PerformerRecord], spec: PerformerSpec | None
) -> Deployment | None:
    """The owned performer to keep for an AVS: the one the store remembers in service, else the
    newest ready one running the configured image (else the newest running it, which may still
    become ready). Without a configured image, any image qualifies. `candidates` oldest first."""
    newest_first = list(reversed(candidates))
    for deployment in newest_first:
        record = records.get(deployment.performer_id)
        if record is not None and record.status == "in_service":
            return deployment
    fitting = [d for d in newest_first if spec is None or image_of(d) == spec.image]
    ready = [d for d in fitting if d.ready]
    return (ready or fitting or [None])[0]
