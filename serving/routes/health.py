"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pipelines.store import Store
from serving.deps import StateDep
from serving.errors import RETRY_LOADING, RETRY_OUTAGE
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
    store: Store | None = request.app.state.store
    if store is not None and store.reachable():
        return Health(status="ready", index_version=state.recommender.index_version, database="ok")
    return Health(
        status="ready",
        index_version=state.recommender.index_version,
        database="unavailable",
        detail="the database is unavailable: recommendations are served, feedback, keys "
        "and analytics answer 503 until it is back; the server log has the details",
    )
