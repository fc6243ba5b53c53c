"""A logging handler that sets an asyncio event when a log message says something: tests wait on the
event instead of sleeping until the logged moment has passed."""

from __future__ import annotations

import asyncio
import logging


class MessageLogged(logging.Handler):
    """Sets `event` once a record's message contains `text`."""

    def __init__(self, event: asyncio.Event, text: str) -> None:
        super().__init__()
        self.event, self.text = event, text

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()
