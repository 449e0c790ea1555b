"""The database, opened at start-up or, if it was down then, as soon as it answers.

A service started before its database (a compose file's start order, a database
restarting) must not need a restart of its own: until the database can be opened,
every /v1 request answers 503 with Retry-After (without it no key can be checked
and no privacy request applied); the next request after it answers opens it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pipelines.exceptions import StoreError
from pipelines.store import Store
from serving.outage import OutageLog

log = logging.getLogger("whoknows.serving")

#: The least time between two attempts to open the database.
RETRY_SECONDS = 5.0


class LateStore:
    """Opens the store at most every ``every`` seconds until it opens, then hands it to
    ``attach`` (which gives it to the parts of the app that need it).

    Args:
        url: the database URL.
        attach: called once with the store when it opens.
        every: the least time between two attempts.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        url: str,
        attach: Callable[[Store], None],
        every: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._attach = attach
        self._every = every
        self._clock = clock
        self._tried_at = float("-inf")
        self._lock = threading.Lock()
        self._outage = OutageLog()
        self.store: Store | None = None

    def open(self) -> Store | None:
        """The store, opened now if it is time to try again; None if it cannot be yet."""
        if self.store is not None:
            return self.store
        with self._lock:
            if self.store is not None or self._clock() - self._tried_at < self._every:
                return self.store
            self._tried_at = self._clock()
            try:
                store = Store(self.url)
            except StoreError as exc:
                self._outage.failed("cannot open the database: %s", exc)
                return None
            self._attach(store)
            self.store = store
        log.info("the database is open")
        return store
