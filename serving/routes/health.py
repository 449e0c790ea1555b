"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import StateDep
from serving.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (it may still be loading its index)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(state: StateDep) -> Health | JSONResponse:
    """200 once the index is loaded; 503 while it loads or if it failed to load."""
    if state.recommender is not None:
        return Health(status="ready", index_version=state.recommender.index_version)
    body = Health(status=state.status, detail=state.error or "loading the index")
    headers = None if state.error else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=503, headers=headers)
