"""POST /v1/recommendations: what to read and whom to ask."""

from __future__ import annotations

from fastapi import APIRouter

from serving.answering import answer
from serving.deps import CallerDep, RecommenderDep, SettingsDep, StoreDep
from serving.schemas import Problem, RecommendationRequest, RecommendationResponse

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
    recommendation_id, result = answer(
        recommender,
        store,
        caller,
        body.query,
        limit_resources=body.limit_resources,
        limit_people=body.limit_people,
        departments=tuple(body.filters.departments),
        types=tuple(t.value for t in body.filters.types),
    )
    return RecommendationResponse.of(recommendation_id, result, settings.profile_fields)
