"""Answering a caller's question and logging the answer: one path for every way of asking.

The HTTP API, Slack and Teams all answer through :func:`answer`, so that what a
caller may see, how the answer is logged (for feedback and analytics) and what
feedback it accepts are the same wherever the question came from.
"""

from __future__ import annotations

import logging
import uuid

from models.recommender import Recommender
from models.results import Filters, Recommendations
from pipelines.exceptions import StoreError
from pipelines.store import LoggedItem, RecommendationLog, Store
from pipelines.store.records import utcnow
from serving.auth import Caller

log = logging.getLogger("whoknows.serving")


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
) -> tuple[str, Recommendations]:
    """Recommend for a caller (within their groups) and log the answer.

    Returns:
        The recommendation's id (the handle for feedback) and the answer.

    Raises:
        InvalidQueryError, InvalidFilterError: the question or a filter is unusable.
    """
    result = recommender.recommend(
        query,
        limit_resources=limit_resources,
        limit_people=limit_people,
        filters=Filters(departments=departments, types=types, groups=caller.groups),
    )
    recommendation_id = uuid.uuid4().hex
    try:
        store.log_recommendation(_logged(recommendation_id, result, caller, recommender))
    except StoreError as exc:  # the answer matters more than its record
        log.error(
            "recommendation %s not logged (feedback on it will fail): %s", recommendation_id, exc
        )
    return recommendation_id, result


def _logged(
    recommendation_id: str, result: Recommendations, caller: Caller, recommender: Recommender
) -> RecommendationLog:
    department = None if caller.person is None else recommender.department_of(caller.person)
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
        caller_person=caller.person,
        caller_department=department,
        query=result.query,
        index_version=result.index_version,
        best_relevance=max((h.relevance for h in result.resources), default=None),
        items=tuple(items),
    )
