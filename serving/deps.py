"""Dependencies of the routes, as Annotated aliases.

Those that only read the app's state are ``async``: FastAPI runs a plain ``def``
dependency in its thread pool, a round trip per dependency and request. Those
that may wait on the database or Redis (the caller, the privacy refresh) stay
plain functions, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.recommender import Recommender
from pipelines.store import Store
from serving.answering import Exposure
from serving.auth import Authenticator, Caller, request_origin
from serving.config import Settings
from serving.errors import Forbidden, ServiceUnavailable, Unauthenticated
from serving.late_store import LateStore
from serving.limits import RateLimiter
from serving.privacy import PrivacySync
from serving.state import IndexState, Served


async def get_state(request: Request) -> IndexState:
    """The app's index state, set up by the lifespan."""
    state: IndexState = request.app.state.index
    return state


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_recommender(
    request: Request, state: Annotated[IndexState, Depends(get_state)]
) -> Recommender:
    """The loaded recommender, with every privacy request applied; 503 while there is none.

    The request keeps what it was served (``request.state.served``) to its end,
    whatever a reload swaps in meanwhile.
    """
    served = served_now(state, request.app.state.privacy)
    request.state.served = served
    return served.recommender


def served_now(state: IndexState, privacy: PrivacySync) -> Served:
    """What is served, with every privacy request applied; 503 while nothing is (every
    channel that answers from the index asks here: the API, the MCP tools)."""
    served = state.served
    if served is None:
        if state.error:
            raise ServiceUnavailable(state.error, retry=False)
        raise ServiceUnavailable(
            "the index is still loading; try again in a few seconds", retry=True
        )
    privacy.refresh(served.recommender)
    return served


def get_store(request: Request) -> Store:
    """The database of keys, recommendations and feedback (opened now if it could not be
    before), or 503 while it cannot be opened: no key can be checked without it, nor any
    privacy request applied."""
    late: LateStore = request.app.state.late_store
    store = late.open()
    if store is None:
        raise ServiceUnavailable(
            "the database could not be opened; the server log has the details", retry=False
        )
    return store


def get_caller(request: Request, store: Annotated[Store, Depends(get_store)]) -> Caller:
    """The authenticated caller (401 if none), counted against their rate limit (429)."""
    authenticator: Authenticator = request.app.state.authenticator
    limiter: RateLimiter = request.app.state.limiter
    host = request.client.host if request.client else None
    origin = request_origin(request.headers.get("origin"), request.headers.get("referer"))
    try:
        caller = authenticator.caller(request.headers.get("authorization"), host, origin)
    except Unauthenticated:
        limiter.hit(f"refused:{host}")  # guessing keys costs the address its allowance
        raise
    limiter.hit(caller.identity)
    return caller


async def get_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """The caller, who must be an administrator (403 otherwise)."""
    if not caller.admin:
        raise Forbidden(f"{caller.name} is not an administrator; use an admin key")
    return caller


async def get_exposure(request: Request) -> Exposure:
    """Everyone's recent exposure, for load-aware routing (read from the store)."""
    exposure: Exposure = request.app.state.exposure
    return exposure


StateDep = Annotated[IndexState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
StoreDep = Annotated[Store, Depends(get_store)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(get_admin)]
ExposureDep = Annotated[Exposure, Depends(get_exposure)]
