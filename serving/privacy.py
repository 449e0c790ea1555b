"""Keeps the served index in step with privacy requests made anywhere.

Opt-outs and erasures live in the database, so that every worker (and every
restart) honours them. Each worker hides the requested people in its own copy
of the index at load, and re-reads the list at most every ``interval`` seconds
while it answers, so a request made through another worker takes effect there
within that delay. People marked ``opt_out`` in the people file are recorded in
the database at load, so that exports and every other reader of it skip them too.
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

log = logging.getLogger("whoknows.serving")

#: Seconds between two reads of the suppression list by one worker.
DEFAULT_INTERVAL = 1.0


class PrivacySync:
    """Applies the database's suppressions to a recommender, now and then again.

    Args:
        store: where the requests are kept (None: nothing to apply).
        interval: the longest a request made elsewhere goes unseen here, in seconds.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        store: Store | None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._checked = float("-inf")
        # person id hash -> id, per index served: hashed once per index, and kept
        # no longer than the index itself (a reload frees the old one)
        self._ids: weakref.WeakKeyDictionary[Recommender, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )

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
        now = self.clock()
        with self._lock:
            if now - self._checked < self.interval:
                return
            self._checked = now
        try:
            self._apply(recommender)
        except StoreError as exc:
            log.error("cannot read the privacy requests: %s", exc)

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
