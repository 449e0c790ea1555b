"""The FastAPI application.

Run it with ``whoknows serve --index DIR``, or with uvicorn directly::

    WHOKNOWS_INDEX_DIR=data/index/sample uvicorn serving.app:create_app --factory
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from models.recommender import Recommender
from serving import errors
from serving.config import Settings
from serving.routes import catalog, health, recommendations
from serving.state import IndexState

log = logging.getLogger("whoknows.serving")


def create_app(settings: Settings | None = None, recommender: Recommender | None = None) -> FastAPI:
    """Build the app.

    Args:
        settings: runtime settings; read from the environment if None.
        recommender: an already loaded recommender (tests, notebooks); if None the
            index in ``settings.index_dir`` is loaded in the background at start-up.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = IndexState(recommender)
        app.state.index = state
        if recommender is None:
            if settings.index_dir is None and settings.model_uri is None:
                problem = (
                    "no index configured: set WHOKNOWS_INDEX_DIR (or WHOKNOWS_MODEL_URI for a "
                    "registered model), or use whoknows serve --index / --model"
                )
                state.fail(problem)
                log.error(problem)
            else:
                state.load_in_background(settings)
        yield

    app = FastAPI(
        title="whoknows",
        summary="What to read and who knows about it, with the evidence.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(catalog.router)
    return app
