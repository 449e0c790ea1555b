"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.deps import StateDep
from serving.errors import RETRY_LOADING, RETRY_OUTAGE
from serving.late_store import LateStore
from serving.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(state: StateDep) -> Health:
    """The process is up (it may still be loading its index, or failed to)."""
    served = state.recommender
    return Health(status="ok", index_version=served.index_version if served else None)


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request, state: StateDep) -> Health | JSONResponse:
    """200 once the index is loaded (with the database's state); 503 while it loads
    or if it failed to load, with Retry-After."""
    if state.recommender is None:
        body = Health(status=state.status, detail=state.error or "loading the index")
        wait = RETRY_OUTAGE if state.error else RETRY_LOADING
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": str(wait)})
    late: LateStore = request.app.state.late_store
    store = late.open()  # a database that was down at start-up is opened once it answers
    version = state.recommender.index_version
    if store is not None and store.reachable():
        return Health(status="ready", index_version=version, database="ok")
    if store is None:
        detail = (
            "the database could not be opened yet: every /v1 request answers 503 until it "
            "can (tried again every few seconds); the server log has the details"
        )
    else:
        detail = (
            "the database is unavailable: recommendations are served to keys seen in the "
            "last 10 minutes, feedback, keys and analytics answer 503 until it is back; the "
            "server log has the details"
        )
    return Health(status="ready", index_version=version, database="unavailable", detail=detail)
