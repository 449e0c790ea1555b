"""Keeps the served index in step with privacy requests made anywhere.

Opt-outs and erasures live in the database, so that every worker (and every
restart) honours them. Each worker hides the requested people in its own copy
of the index at load, and re-reads the list at most every ``interval`` seconds
while it answers, so a request made through another worker takes effect there
within that delay. With a Redis shared by the workers (WHOKNOWS_REDIS_URL), a
request also bumps a counter there, and every worker that sees the counter move
re-reads the list before its next answer: across replicas, at once. People marked
``opt_out`` in the people file are recorded in the database at load, so that
exports and every other reader of it skip them too.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from models.recommender import Recommender
from pipelines.exceptions import StoreError
from pipelines.store import Store, person_hash
from serving.outage import OutageLog

log = logging.getLogger("whoknows.serving")

#: Seconds between two reads of the suppression list by one worker.
DEFAULT_INTERVAL = 1.0
#: The Redis key every worker watches: it changes with each privacy request.
SIGNAL_KEY = "whoknows:privacy:version"


class PrivacySignal:
    """A counter in a shared Redis that moves with every privacy request.

    Redis being unreachable is logged (once a minute while it lasts) and otherwise
    ignored: the database stays the record, and polling it every ``interval`` still
    reaches every worker.

    Args:
        url: the Redis URL (``redis://host:6379/0``).
    """

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._outage = OutageLog()

    def announce(self) -> None:
        """Tell every worker that the suppression list changed."""
        try:
            self._redis.incr(SIGNAL_KEY)
        except self._errors as exc:
            log.error("cannot tell the other workers of a privacy request: %s", exc)

    def version(self) -> bytes | None:
        """The counter now (None: never bumped, or Redis unreachable)."""
        try:
            value = self._redis.get(SIGNAL_KEY)
        except self._errors as exc:
            self._outage.failed("cannot read the privacy signal: %s", exc)
            return None
        return value if isinstance(value, bytes) else None


class PrivacySync:
    """Applies the database's suppressions to a recommender, now and then again.

    Args:
        store: where the requests are kept (None: nothing to apply).
        interval: the longest a request made elsewhere goes unseen here, in seconds.
        clock: monotonic seconds (tests pass their own).
        signal: the shared counter of privacy requests, when workers share a Redis.
    """

    def __init__(
        self,
        store: Store | None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        signal: PrivacySignal | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.signal = signal
        self._seen = signal.version() if signal is not None and store is not None else None
        self._lock = threading.Lock()
        self._checked = float("-inf")
        # person id hash -> id, per index served: hashed once per index, and kept
        # no longer than the index itself (a reload frees the old one)
        self._ids: weakref.WeakKeyDictionary[Recommender, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def attach(self, store: Store) -> None:
        """The database is open (at start-up, or later if it was down then)."""
        self._seen = self.signal.version() if self.signal is not None else None
        self._checked = float("-inf")
        self.store = store

    def prepare(self, recommender: Recommender) -> None:
        """At load: record the profile opt-outs, then hide everyone suppressed."""
        if self.store is None:
            return
        for person_id in recommender.hidden_people:
            self.store.suppress(person_id, "opt_out")
        self._apply(recommender)

    def refresh(self, recommender: Recommender) -> None:
        """Before answering: hide anyone suppressed since the last look, if it is time.

        A database that cannot be read is logged, not raised: the people hidden so
        far stay hidden, and the next request tries again.
        """
        if self.store is None:
            return
        signalled = self.signal.version() if self.signal is not None else None
        now = self.clock()
        with self._lock:
            moved = signalled is not None and signalled != self._seen
            if not moved and now - self._checked < self.interval:
                return
            self._checked = now
            self._seen = signalled if signalled is not None else self._seen
        try:
            self._apply(recommender)
        except StoreError as exc:
            log.error("cannot read the privacy requests: %s", exc)

    def announce(self) -> None:
        """After a privacy request here: tell the other workers (with a shared Redis)."""
        if self.signal is not None:
            self.signal.announce()

    def _apply(self, recommender: Recommender) -> None:
        assert self.store is not None
        suppressed = self.store.suppressed()
        ids = self._hashed(recommender)
        hidden = recommender.hide_people(ids[h] for h in suppressed if h in ids)
        if hidden:
            log.info("%d people hidden on request (opt-out or erasure)", hidden)

    def _hashed(self, recommender: Recommender) -> dict[str, str]:
        """The index's people by the hash under which privacy requests name them."""
        ids = self._ids.get(recommender)
        if ids is None:
            ids = {person_hash(p.id): p.id for p in recommender.people}
            self._ids[recommender] = ids
        return ids
