"""POST /v1/recommendations: what to read and whom to ask."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter

from models.recommender import Recommender
from models.results import Filters, Recommendations
from pipelines.exceptions import StoreError
from pipelines.store import LoggedItem, RecommendationLog
from pipelines.store.records import utcnow
from serving.auth import Caller
from serving.deps import CallerDep, RecommenderDep, SettingsDep, StoreDep
from serving.schemas import Problem, RecommendationRequest, RecommendationResponse

log = logging.getLogger("whoknows.serving")

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    response_model_exclude_unset=True,
    responses={
        401: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem},
        503: {"model": Problem},
    },
)
def recommend(
    body: RecommendationRequest,
    recommender: RecommenderDep,
    caller: CallerDep,
    store: StoreDep,
    settings: SettingsDep,
) -> RecommendationResponse:
    """Resources and colleagues for a question, each with the evidence behind it.

    Only documents the caller's groups may see are returned or count as evidence;
    people who opted out never appear. The response's ``id`` is the handle for
    ``POST /v1/feedback``.
    """
    answer = recommender.recommend(
        body.query,
        limit_resources=body.limit_resources,
        limit_people=body.limit_people,
        filters=Filters(
            departments=tuple(body.filters.departments),
            types=tuple(t.value for t in body.filters.types),
            groups=caller.groups,
        ),
    )
    recommendation_id = uuid.uuid4().hex
    try:
        store.log_recommendation(_logged(recommendation_id, answer, caller, recommender))
    except StoreError as exc:  # the answer matters more than its record
        log.error(
            "recommendation %s not logged (feedback on it will fail): %s", recommendation_id, exc
        )
    return RecommendationResponse.of(recommendation_id, answer, settings.profile_fields)


def _logged(
    recommendation_id: str, answer: Recommendations, caller: Caller, recommender: Recommender
) -> RecommendationLog:
    department = None if caller.person is None else recommender.department_of(caller.person)
    items = [
        LoggedItem("resource", hit.document.id, rank, hit.document.department)
        for rank, hit in enumerate(answer.resources, start=1)
    ] + [
        LoggedItem("person", hit.person.id, rank, hit.person.department)
        for rank, hit in enumerate(answer.people, start=1)
    ]
    return RecommendationLog(
        id=recommendation_id,
        created_at=utcnow(),
        caller=caller.name,
        caller_person=caller.person,
        caller_department=department,
        query=answer.query,
        index_version=answer.index_version,
        best_relevance=max((h.relevance for h in answer.resources), default=None),
        items=tuple(items),
    )
