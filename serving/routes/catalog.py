"""GET /v1/resources/{id} and /v1/people/{id}: one record each."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import RecommenderDep
from serving.schemas import PersonDetail, Problem, ResourceDetail

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get(
    "/resources/{resource_id:path}",
    response_model=ResourceDetail,
    responses={404: {"model": Problem}},
)
def get_resource(resource_id: str, recommender: RecommenderDep) -> ResourceDetail:
    """A resource with its full text and authors."""
    document = recommender.resource(resource_id)
    return ResourceDetail.of(document, recommender.authors(document))


@router.get(
    "/people/{person_id:path}", response_model=PersonDetail, responses={404: {"model": Problem}}
)
def get_person(person_id: str, recommender: RecommenderDep) -> PersonDetail:
    """A person's profile and their strongest documents."""
    return PersonDetail.of(recommender.profile(person_id))
