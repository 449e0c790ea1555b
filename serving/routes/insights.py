"""Across functions: GET /v1/insights/topics (the expertise map) and
GET /v1/people/{id}/matches (mentors and learners).

Both are permission-trimmed like every answer: only documents the caller's groups
may see place a person in a topic or a match, and people who opted out or were
erased never appear. The knowledge-gap queue and the analytics over time are the
administrators' (serving.routes.admin).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from models.mentoring import MAX_MATCHES, matches
from serving.deps import CallerDep, ExposureDep, RecommenderDep, SettingsDep, StoreDep
from serving.errors import ServiceUnavailable
from serving.insight_schemas import ExpertiseMapOut, MatchesOut
from serving.insights import Topics
from serving.schemas import Problem
from serving.state import Served

router = APIRouter(prefix="/v1", tags=["across functions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
    429: {"model": Problem},
    503: {"model": Problem},
}


def get_topics(request: Request, _recommender: RecommenderDep) -> Topics:
    """The topics of the index this request is served from; 503 while they are
    computed, or if they cannot be."""
    served: Served = request.state.served
    if served.topics is None:
        if served.topics_error:
            raise ServiceUnavailable(served.topics_error, retry=False)
        raise ServiceUnavailable(
            "the expertise map is being computed; try again in a few seconds", retry=True
        )
    return served.topics


TopicsDep = Annotated[Topics, Depends(get_topics)]


@router.get("/insights/topics", response_model=ExpertiseMapOut, responses=_ERRORS)
def topics(recommender: RecommenderDep, caller: CallerDep, found: TopicsDep) -> ExpertiseMapOut:
    """The expertise map: the topics of the documents the caller may see, each with its
    label (most distinctive terms), departments, experts and bus factor; a topic is a
    silo when one department holds most of its expertise, and fragile when its bus
    factor is 1. ``heat`` is the department x topic share of expertise."""
    return ExpertiseMapOut.of(found.map_for(recommender, caller.groups))


@router.get("/people/{person_id:path}/matches", response_model=MatchesOut, responses=_ERRORS)
def person_matches(
    person_id: str,
    recommender: RecommenderDep,
    caller: CallerDep,
    settings: SettingsDep,
    store: StoreDep,
    exposure: ExposureDep,
    goal: Annotated[
        Literal["learn", "mentor"],
        Query(description="learn: find the person mentors; mentor: find them learners."),
    ] = "learn",
    cross_functional: Annotated[
        bool, Query(description="Prefer colleagues of another department than the person's.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES, description="How many matches.")] = 10,
) -> MatchesOut:
    """Mentors for a person who wants to learn, or learners for a person who mentors,
    paired reciprocally: the learner's gaps (what they asked about, their declared
    wants_to_learn) against the mentor's strengths (what they wrote and answered,
    their declared can_mentor), with the mentor's capacity (their recent load). Each
    match says why. Unknown or opted-out people answer 404."""
    found = matches(
        recommender,
        person_id,
        goal,
        cross_functional=cross_functional,
        groups=caller.groups,
        limit=limit,
        load=exposure(store),
    )
    return MatchesOut.of(person_id, goal, cross_functional, found, settings.profile_fields)
