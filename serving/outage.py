"""A shared store (Redis) that stops answering: said in the log once a minute, not once
a request, whichever part of the service keeps running without it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("whoknows.serving")

#: Seconds between two log lines about the same outage.
LOG_EVERY = 60.0


class OutageLog:
    """Logs a failure of a shared store at most every ``every`` seconds.

    Args:
        every: the least time between two lines.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self._clock = clock
        self._logged_at = float("-inf")
        self._lock = threading.Lock()

    def failed(self, message: str, *args: object) -> None:
        """Log ``message`` (an error) unless a line went out less than ``every`` ago."""
        now = self._clock()
        with self._lock:
            if now - self._logged_at < self.every:
                return
            self._logged_at = now
        log.error(message, *args)
