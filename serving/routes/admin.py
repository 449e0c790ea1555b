"""Privacy requests, analytics and index reloads: opt-out, erasure, GET /v1/analytics
(and its series over time), the knowledge-gap queue, POST /v1/admin/reload."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator

from models.exceptions import InvalidQueryError, UnknownPersonError
from pipelines.store.gaps import QUEUE_LENGTH
from pipelines.store.records import as_utc, utcnow
from pipelines.store.store import MAX_BUCKETS
from serving.deps import AdminDep, CallerDep, RecommenderDep, SettingsDep, StateDep, StoreDep
from serving.errors import Forbidden
from serving.insight_schemas import AnalyticsSeriesOut, GapEntryOut, GapQueueOut
from serving.schemas import AnalyticsOut, PrivacyOut, Problem, ReloadOut

router = APIRouter(prefix="/v1", tags=["privacy and analytics"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    429: {"model": Problem},
}
#: The window of GET /v1/analytics when ``from`` is not given.
DEFAULT_WINDOW = timedelta(days=30)


#: The bounds of an analytics window, as every analytics route takes them.
def _iso(value: object) -> object:
    """Only ISO 8601 dates and times: pydantic alone also reads '0.5' as epoch seconds."""
    if isinstance(value, str) and not _ISO.match(value):
        raise ValueError("give an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T09:30:00Z")
    return value


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?\Z")
IsoTime = Annotated[datetime, BeforeValidator(_iso)]
FromQuery = Annotated[
    IsoTime | None,
    Query(alias="from", description="ISO date or time (UTC if no zone); default: 30 days ago"),
]
ToQuery = Annotated[
    IsoTime | None,
    Query(
        alias="to",
        description="ISO date or time, exclusive; default: now. Equal to 'from': an empty "
        "window (every count 0).",
    ),
]


@router.post(
    "/admin/reload",
    response_model=ReloadOut,
    responses={**_ERRORS, 409: {"model": Problem}},
    tags=["operations"],
)
def reload(_admin: AdminDep, state: StateDep, settings: SettingsDep) -> ReloadOut:
    """Serve the index again from where it was loaded (WHOKNOWS_INDEX_DIR, or the
    registered model's alias, fetched again), without a restart (admin).

    The new index is loaded while the old one keeps answering; then both the
    index and its expertise map are swapped at once. Requests already running
    finish on the old index, none fails, and the old one is freed when they end.
    409 if another reload is running or the new index cannot be loaded (the
    service goes on serving the old one).
    """
    done = state.reload(settings)
    return ReloadOut(
        index_version=done.index_version,
        previous_version=done.previous_version,
        changed=done.changed,
        seconds=round(done.seconds, 3),
    )


@router.post("/people/{person_id:path}/opt-out", response_model=PrivacyOut, responses=_ERRORS)
def opt_out(
    request: Request,
    person_id: str,
    caller: CallerDep,
    store: StoreDep,
    recommender: RecommenderDep,
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
    request.app.state.privacy.announce()
    return PrivacyOut(id=person_id, status="opted_out", in_index=True)


@router.delete("/people/{person_id:path}", response_model=PrivacyOut, responses=_ERRORS)
def erase(
    request: Request,
    person_id: str,
    _admin: AdminDep,
    store: StoreDep,
    recommender: RecommenderDep,
    record_unknown: Annotated[
        bool, Query(description="Record the erasure even of an id nothing knows yet.")
    ] = False,
) -> PrivacyOut:
    """Erase a person (admin): hidden from the served index at once, their feedback,
    recommendation records and keys deleted, and left out of every future build.

    An id that neither the served index nor any record knows is a 404 (a typo must
    not look erased); with ``record_unknown=true`` it is recorded anyway, to keep a
    person who is not indexed yet out of future builds.
    """
    if not person_id.strip():
        raise InvalidQueryError("give the id of the person to erase", field="person_id")
    in_index = recommender.has_person(person_id)
    if not (in_index or record_unknown or store.mentions(person_id)):
        raise UnknownPersonError(
            f"no person with id {person_id!r} in the index or the records; nothing was "
            "erased. Check the id, or add ?record_unknown=true to keep it out of future builds"
        )
    deleted = store.erase(person_id)
    recommender.hide_people([person_id])
    request.app.state.privacy.announce()
    return PrivacyOut(id=person_id, status="erased", in_index=in_index, deleted_records=deleted)


@router.get(
    "/analytics", response_model=AnalyticsOut, responses=_ERRORS | {422: {"model": Problem}}
)
def analytics(
    _admin: AdminDep,
    store: StoreDep,
    recommender: RecommenderDep,
    settings: SettingsDep,
    start: FromQuery = None,
    end: ToQuery = None,
) -> AnalyticsOut:
    """Use of the service (admin): queries, knowledge gaps, click-through and helpful
    rates, cross-functional reach, expert load (with its Gini coefficient), coverage.

    People who opted out or were erased are not counted.
    """
    since, until = window(start, end)
    report = store.analytics(
        since, until, people=recommender.shown_people(), gap_threshold=settings.gap_threshold
    )
    return AnalyticsOut.of(report)


def window(
    start: datetime | None, end: datetime | None, default: timedelta = DEFAULT_WINDOW
) -> tuple[datetime, datetime]:
    """The [from, to) window of an analytics request, in UTC, defaults filled in
    (``from``: ``default`` before ``to``).

    Raises:
        InvalidQueryError: a bound out of range, or ``from`` after ``to``.
    """
    try:
        until = as_utc(end) if end is not None else utcnow()
    except OverflowError:
        raise InvalidQueryError("'to' is out of range", field="to") from None
    try:
        since = as_utc(start) if start is not None else until - default
    except OverflowError:
        raise InvalidQueryError(
            "'from' is out of range; give it explicitly", field="from"
        ) from None
    if since > until:
        raise InvalidQueryError("'from' must not be after 'to'", field="from")
    return since, until


#: The steps GET /v1/analytics/series can take.
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


@router.get(
    "/analytics/series",
    response_model=AnalyticsSeriesOut,
    responses=_ERRORS | {422: {"model": Problem}},
)
def analytics_series(
    _admin: AdminDep,
    store: StoreDep,
    recommender: RecommenderDep,
    settings: SettingsDep,
    start: FromQuery = None,
    end: ToQuery = None,
    step: Annotated[
        Literal["hour", "day", "week"], Query(description="The length of each point's window.")
    ] = "day",
) -> AnalyticsSeriesOut:
    """The analytics over time (admin), one point per hour, day or week from ``from``:
    for charts of queries, click-through, helpful rate, cross-functional reach, expert
    load and its Gini coefficient, and coverage. At most 366 points: without ``from``,
    the last 30 days or 366 steps, whichever is shorter."""
    since, until = window(start, end, min(DEFAULT_WINDOW, STEPS[step] * MAX_BUCKETS))
    if (until - since) / STEPS[step] > MAX_BUCKETS:
        raise InvalidQueryError(
            f"more than {MAX_BUCKETS} points of one {step} from 'from' to 'to': "
            "shorten the window or take a longer step",
            field="step",
        )
    points = store.analytics_series(
        since,
        until,
        STEPS[step],
        people=recommender.shown_people(),
        gap_threshold=settings.gap_threshold,
    )
    return AnalyticsSeriesOut(step=step, points=[AnalyticsOut.of(p) for p in points])


@router.get(
    "/insights/gaps", response_model=GapQueueOut, responses=_ERRORS | {422: {"model": Problem}}
)
def knowledge_gaps(
    _admin: AdminDep,
    store: StoreDep,
    recommender: RecommenderDep,
    settings: SettingsDep,
    start: FromQuery = None,
    end: ToQuery = None,
    limit: Annotated[int, Query(ge=1, le=200, description="The most entries.")] = QUEUE_LENGTH,
) -> GapQueueOut:
    """The knowledge-gap queue (admin): questions asked in the window that found neither
    a good resource nor a willing expert, those asking the same thing together, the most
    frequent first. What to write down, or whom to find, next."""
    since, until = window(start, end)
    entries = store.gaps(
        since,
        until,
        people=recommender.shown_people(),
        gap_threshold=settings.gap_threshold,
        limit=limit,
    )
    return GapQueueOut(
        start=since.isoformat(),
        end=until.isoformat(),
        gap_threshold=settings.gap_threshold,
        entries=[GapEntryOut(**e.to_dict()) for e in entries],
    )
