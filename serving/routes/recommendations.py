"""POST /v1/recommendations: what to read and whom to ask."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving.answering import answer
from serving.deps import CallerDep, ExposureDep, RecommenderDep, SettingsDep, StoreDep
from serving.errors import Forbidden
from serving.schemas import Problem, RecommendationRequest, RecommendationResponse

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    response_model_exclude_unset=True,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem},
        503: {"model": Problem},
    },
)
def recommend(
    request: Request,
    body: RecommendationRequest,
    recommender: RecommenderDep,
    caller: CallerDep,
    store: StoreDep,
    settings: SettingsDep,
    exposure: ExposureDep,
) -> RecommendationResponse:
    """Resources and colleagues for a question, each with the evidence behind it.

    Only documents the caller's groups may see are returned or count as evidence;
    people who opted out never appear, nor does the asker (the person the key or
    token names, or ``requester_id`` from an admin key). Colleagues asked often
    lately yield to colleagues of comparable strength; with ``cross_functional``,
    colleagues of another department than the asker's are preferred. The
    response's ``id`` is the handle for ``POST /v1/feedback``.
    """
    if body.requester_id is not None and not caller.admin:
        raise Forbidden(
            "requester_id is for trusted callers (admin keys) that ask on someone's behalf; "
            "a key or token that names its person asks as that person"
        )
    recommendation_id, result = answer(
        recommender,
        store,
        caller,
        body.query,
        limit_resources=body.limit_resources,
        limit_people=body.limit_people,
        departments=tuple(body.filters.departments),
        types=tuple(t.value for t in body.filters.types),
        asker=body.requester_id or caller.person,
        cross_functional=body.cross_functional,
        exposure=exposure(store),
        slots=request.app.state.slots,
    )
    return RecommendationResponse.of(recommendation_id, result, settings.profile_fields)
