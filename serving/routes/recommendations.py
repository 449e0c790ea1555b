"""POST /v1/recommendations: what to read and whom to ask."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from models.results import Filters
from serving.deps import RecommenderDep
from serving.schemas import Problem, RecommendationRequest, RecommendationResponse

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    responses={422: {"model": Problem}, 503: {"model": Problem}},
)
def recommend(body: RecommendationRequest, recommender: RecommenderDep) -> RecommendationResponse:
    """Resources and colleagues for a question, each with the evidence behind it."""
    answer = recommender.recommend(
        body.query,
        limit_resources=body.limit_resources,
        limit_people=body.limit_people,
        filters=Filters(
            departments=tuple(body.filters.departments),
            types=tuple(t.value for t in body.filters.types),
        ),
    )
    return RecommendationResponse.of(uuid.uuid4().hex, answer)
