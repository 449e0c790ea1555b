"""Dependencies of the routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.recommender import Recommender
from serving.config import Settings
from serving.errors import ServiceUnavailable
from serving.state import IndexState


def get_state(request: Request) -> IndexState:
    """The app's index state, set up by the lifespan."""
    state: IndexState = request.app.state.index
    return state


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_recommender(state: Annotated[IndexState, Depends(get_state)]) -> Recommender:
    """The loaded recommender, or 503 while there is none."""
    if state.recommender is None:
        if state.error:
            raise ServiceUnavailable(state.error, retry=False)
        raise ServiceUnavailable(
            "the index is still loading; try again in a few seconds", retry=True
        )
    return state.recommender


StateDep = Annotated[IndexState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
