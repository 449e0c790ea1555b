"""Privacy requests and analytics: opt-out, erasure, GET /v1/analytics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from models.exceptions import InvalidQueryError, UnknownPersonError
from pipelines.store.records import as_utc, utcnow
from serving.deps import AdminDep, CallerDep, RecommenderDep, SettingsDep, StoreDep
from serving.errors import Forbidden
from serving.schemas import AnalyticsOut, PrivacyOut, Problem

router = APIRouter(prefix="/v1", tags=["privacy and analytics"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    429: {"model": Problem},
}
#: The window of GET /v1/analytics when ``from`` is not given.
DEFAULT_WINDOW = timedelta(days=30)


@router.post("/people/{person_id:path}/opt-out", response_model=PrivacyOut, responses=_ERRORS)
def opt_out(
    person_id: str, caller: CallerDep, store: StoreDep, recommender: RecommenderDep
) -> PrivacyOut:
    """Stop recommending a person: by the person's own key or token, or an admin.

    From this request on they appear in no result, evidence list, author list or
    analytics; the request is kept (as a hash of the id) across restarts and builds.
    """
    if not caller.admin and caller.person != person_id:
        raise Forbidden("only the person themselves or an administrator may opt a person out")
    if not recommender.has_person(person_id):
        raise UnknownPersonError(f"no person with id {person_id!r}")
    store.suppress(person_id, "opt_out")
    recommender.hide_people([person_id])
    return PrivacyOut(id=person_id, status="opted_out", in_index=True)


@router.delete("/people/{person_id:path}", response_model=PrivacyOut, responses=_ERRORS)
def erase(
    person_id: str, _admin: AdminDep, store: StoreDep, recommender: RecommenderDep
) -> PrivacyOut:
    """Erase a person (admin): hidden from the served index at once, their feedback,
    recommendation records and keys deleted, and left out of every future build.

    A person the served index does not hold is still recorded for future builds.
    """
    if not person_id.strip():
        raise InvalidQueryError("give the id of the person to erase", field="person_id")
    deleted = store.erase(person_id)
    in_index = recommender.has_person(person_id)
    recommender.hide_people([person_id])
    return PrivacyOut(id=person_id, status="erased", in_index=in_index, deleted_records=deleted)


@router.get(
    "/analytics", response_model=AnalyticsOut, responses=_ERRORS | {422: {"model": Problem}}
)
def analytics(
    _admin: AdminDep,
    store: StoreDep,
    recommender: RecommenderDep,
    settings: SettingsDep,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="ISO date or time (UTC if no zone); default: 30 days ago"),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="ISO date or time, exclusive; default: now")
    ] = None,
) -> AnalyticsOut:
    """Use of the service (admin): queries, knowledge gaps, click-through and helpful
    rates, cross-functional reach, expert load (with its Gini coefficient), coverage.

    People who opted out or were erased are not counted.
    """
    try:
        until = as_utc(end) if end is not None else utcnow()
    except OverflowError:
        raise InvalidQueryError("'to' is out of range", field="to") from None
    try:
        since = as_utc(start) if start is not None else until - DEFAULT_WINDOW
    except OverflowError:
        raise InvalidQueryError(
            "'from' is out of range; give it explicitly", field="from"
        ) from None
    if since >= until:
        raise InvalidQueryError("'from' must be before 'to'", field="from")
    report = store.analytics(
        since, until, people=recommender.shown_people(), gap_threshold=settings.gap_threshold
    )
    return AnalyticsOut.of(report)
