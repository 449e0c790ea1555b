"""Answering a caller's question and logging the answer: one path for every way of asking.

The HTTP API, Slack and Teams all answer through :func:`answer`, so that what a
caller may see, how the answer is logged (for feedback and analytics) and what
feedback it accepts are the same wherever the question came from.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping

from models.recommender import Recommender
from models.results import Filters, Recommendations
from models.routing import Asking
from pipelines.exceptions import StoreError
from pipelines.store import LoggedItem, RecommendationLog, Store
from pipelines.store.records import utcnow
from serving.auth import Caller
from serving.errors import ServiceUnavailable

log = logging.getLogger("whoknows.serving")

#: Seconds a read of everyone's exposure is reused by a worker.
EXPOSURE_TTL = 30.0


class Exposure:
    """Everyone's recent exposure (models.routing), read from the store at most every
    ``ttl`` seconds; if the store cannot be read, the last known exposure is used."""

    def __init__(self, ttl: float = EXPOSURE_TTL) -> None:
        self._ttl = ttl
        self._known: Mapping[str, float] = {}
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def __call__(self, store: Store) -> Mapping[str, float]:
        now = time.monotonic()
        if now - self._read_at >= self._ttl:
            with self._lock:
                if now - self._read_at >= self._ttl:
                    try:
                        self._known = store.exposure()
                    except StoreError as exc:
                        log.warning("cannot read recent exposure; using the last known: %s", exc)
                    self._read_at = now
        return self._known


class Overloaded(ServiceUnavailable):
    """More recommendations asked at once than the process computes and queues (HTTP 503
    with a short Retry-After): past capacity the service says so at once instead of
    letting every answer wait longer."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry=True)
        self.retry_after = OVERLOAD_RETRY_AFTER


#: Seconds an overloaded caller is told to wait.
OVERLOAD_RETRY_AFTER = 1


class Slots:
    """At most ``size`` recommendations computed at once in this process, at most
    ``queue`` more waiting, none waiting longer than ``wait`` seconds.

    A recommendation is CPU work in Python and ONNX Runtime: sixteen computed side by
    side take longer each than the same sixteen two at a time (measured in-process on
    2 cores: 56 against 124 a second), so requests past the number of cores queue
    here; past the queue, or after waiting ``wait`` seconds, they are refused with
    :class:`Overloaded` (HTTP 503, Retry-After) rather than queued without end.

    Args:
        size: how many at once (None: one per CPU this process may use).
        queue: how many may wait for a slot (None: 32 per slot).
        wait: the longest wait for a slot, in seconds.
    """

    def __init__(
        self, size: int | None = None, queue: int | None = None, wait: float = 10.0
    ) -> None:
        self.size = size or len(os.sched_getaffinity(0))
        self.queue = self.size * 32 if queue is None else queue
        self.wait = wait
        self._semaphore = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._waiting = 0

    def __enter__(self) -> None:
        if self._semaphore.acquire(blocking=False):
            return
        with self._lock:
            if self._waiting >= self.queue:
                raise Overloaded(
                    f"the service is at capacity ({self.size} answers computed and "
                    f"{self.queue} waiting); try again in a moment"
                )
            self._waiting += 1
        try:
            got = self._semaphore.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not got:
            raise Overloaded(
                f"no answer could be started within {self.wait:g} s; try again in a moment"
            )

    def __exit__(self, *_: object) -> None:
        self._semaphore.release()


def answer(
    recommender: Recommender,
    store: Store,
    caller: Caller,
    query: str,
    *,
    limit_resources: int,
    limit_people: int,
    departments: tuple[str, ...] = (),
    types: tuple[str, ...] = (),
    asker: str | None = None,
    cross_functional: bool = False,
    exposure: Mapping[str, float] | None = None,
    slots: Slots | None = None,
) -> tuple[str, Recommendations]:
    """Recommend for a caller (within their groups) and log the answer.

    Args:
        recommender: the index.
        store: where the answer is logged.
        caller: who calls (their groups decide what may be seen).
        query: the question.
        limit_resources: how many resources.
        limit_people: how many people.
        departments: only these departments.
        types: only these resource types.
        asker: the person asking (never recommended to themself), if known.
        cross_functional: prefer colleagues of another department than the asker's.
        exposure: everyone's recent exposure, for load-aware routing.
        slots: the process's limit on recommendations computed at once.

    Returns:
        The recommendation's id (the handle for feedback) and the answer.

    Raises:
        InvalidQueryError, InvalidFilterError: the question or a filter is unusable.
    """
    with slots or contextlib.nullcontext():
        result = recommender.recommend(
            query,
            limit_resources=limit_resources,
            limit_people=limit_people,
            filters=Filters(departments=departments, types=types, groups=caller.groups),
            asking=Asking(asker, cross_functional, exposure or {}),
        )
    recommendation_id = uuid.uuid4().hex
    try:
        store.log_recommendation(_logged(recommendation_id, result, caller, asker, recommender))
    except StoreError as exc:  # the answer matters more than its record
        log.error(
            "recommendation %s not logged (feedback on it will fail): %s", recommendation_id, exc
        )
    return recommendation_id, result


def _logged(
    recommendation_id: str,
    result: Recommendations,
    caller: Caller,
    asker: str | None,
    recommender: Recommender,
) -> RecommendationLog:
    department = None if asker is None else recommender.department_of(asker)
    items = [
        LoggedItem("resource", hit.document.id, rank, hit.document.department)
        for rank, hit in enumerate(result.resources, start=1)
    ] + [
        LoggedItem("person", hit.person.id, rank, hit.person.department)
        for rank, hit in enumerate(result.people, start=1)
    ]
    return RecommendationLog(
        id=recommendation_id,
        created_at=utcnow(),
        caller=caller.name,
        caller_person=asker,
        caller_department=department,
        query=result.query,
        index_version=result.index_version,
        best_relevance=max((h.relevance for h in result.resources), default=None),
        items=tuple(items),
        best_expert_relevance=max(
            (e.relevance for hit in result.people for e in hit.evidence), default=None
        ),
    )
