"""POST /v1/feedback: what the caller did with a recommended item."""

from __future__ import annotations

from fastapi import APIRouter, Response

from pipelines.store import FeedbackEvent
from serving.deps import CallerDep, StoreDep
from serving.schemas import FeedbackIn, FeedbackOut, Problem

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={
        200: {"model": FeedbackOut, "description": "The same event was recorded before."},
        401: {"model": Problem},
        404: {"model": Problem},
        422: {"model": Problem},
    },
)
def feedback(
    body: FeedbackIn, caller: CallerDep, store: StoreDep, response: Response
) -> FeedbackOut:
    """Record a click, a rating or a contact on an item of an earlier recommendation.

    The recommendation must exist (404) and must have returned the item (422).
    ``whoknows feedback export`` turns these events into judgments for evaluation
    and for training the rankers. The same event again (same caller, recommendation,
    item and action: a retry, a double click) is kept and counted once: 200
    ``already_recorded``.
    """
    recorded = store.add_feedback(
        FeedbackEvent(
            recommendation_id=body.recommendation_id,
            item_id=body.item_id,
            item_kind=body.item_kind,
            action=body.action,
            caller=caller.name,
        )
    )
    if not recorded:
        response.status_code = 200
        return FeedbackOut(status="already_recorded")
    return FeedbackOut()
