"""GET /v1/resources/{id} and /v1/people/{id}: one record each; GET /v1/filters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from models.records import ResourceType
from serving.deps import CallerDep, RecommenderDep, SettingsDep
from serving.schemas import FiltersOut, PersonDetail, Problem, ResourceDetail

router = APIRouter(prefix="/v1", tags=["catalog"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    404: {"model": Problem},
    429: {"model": Problem},
}


@router.get("/filters", response_model=FiltersOut, responses=_ERRORS)
def get_filters(recommender: RecommenderDep, caller: CallerDep) -> FiltersOut:
    """The departments and resource types the caller can filter recommendations by.

    Departments named only by documents the caller may not see are not listed.
    """
    departments, types = recommender.facets(caller.groups)
    return FiltersOut(departments=departments, types=[ResourceType(t) for t in types])


@router.get(
    "/resources/{resource_id:path}",
    response_model=ResourceDetail,
    response_model_exclude_unset=True,
    responses=_ERRORS,
)
def get_resource(
    resource_id: str, recommender: RecommenderDep, caller: CallerDep, settings: SettingsDep
) -> ResourceDetail:
    """A resource with its full text and authors.

    A resource the caller's groups may not see answers 404, exactly as a missing one.
    """
    document = recommender.resource(resource_id, groups=caller.groups)
    return ResourceDetail.of(document, recommender.authors(document), settings.profile_fields)


@router.get(
    "/people/{person_id:path}",
    response_model=PersonDetail,
    response_model_exclude_unset=True,
    responses=_ERRORS,
)
def get_person(
    person_id: str, recommender: RecommenderDep, caller: CallerDep, settings: SettingsDep
) -> PersonDetail:
    """A person's profile and their strongest documents that the caller may see.

    People who opted out or were erased answer 404.
    """
    profile = recommender.profile(person_id, groups=caller.groups)
    return PersonDetail.of(profile, settings.profile_fields)
