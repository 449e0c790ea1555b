"""The FastAPI application.

Run it with ``whoknows serve --index DIR``, or with uvicorn directly::

    WHOKNOWS_INDEX_DIR=data/index/sample uvicorn serving.app:create_app --factory
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from models.index import search_one_query_at_a_time
from models.recommender import Recommender
from pipelines.store import Store
from serving import errors, integrations, mcp
from serving.answering import Exposure, Slots
from serving.auth import Authenticator
from serving.browser import KeyOrigins, install_cors
from serving.config import Settings
from serving.late_store import LateStore
from serving.limits import RateLimiter, install_body_limit
from serving.metrics import install_metrics
from serving.privacy import PrivacySignal, PrivacySync
from serving.routes import admin, catalog, feedback, health, insights, pages, recommendations
from serving.state import IndexState

log = logging.getLogger("whoknows.serving")


def create_app(
    settings: Settings | None = None,
    recommender: Recommender | None = None,
    store: Store | None = None,
) -> FastAPI:
    """Build the app.

    Args:
        settings: runtime settings; read from the environment if None.
        recommender: an already loaded recommender (tests, notebooks); if None the
            index in ``settings.index_dir`` is loaded in the background at start-up.
        store: an already open store; if None the database at
            ``settings.database_url`` is opened (and migrated) at start-up.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        search_one_query_at_a_time()
        if settings.anonymous:
            log.warning(
                "anonymous access is ON: requests without credentials from 127.0.0.1 or ::1 "
                "are answered as a caller of no group (public documents only)"
            )
        signal = PrivacySignal(settings.redis_url) if settings.redis_url else None
        privacy = PrivacySync(None, signal=signal)
        app.state.privacy = privacy
        state = IndexState(recommender, prepare=privacy.prepare)
        app.state.index = state

        def attach(opened: Store) -> None:
            """The database is open: keys can be checked, privacy requests applied."""
            app.state.authenticator = Authenticator(settings, opened)
            key_origins.store = opened
            privacy.attach(opened)
            served = state.recommender
            if served is not None:  # loaded before the database opened
                privacy.prepare(served)

        late = LateStore(settings.database_url, attach)
        app.state.late_store = late
        if store is not None:
            late.store = store
            attach(store)
        else:
            late.open()
        if recommender is not None:
            state.load_topics(recommender, settings.topics_dir)
        else:
            if settings.index_dir is None and settings.model_uri is None:
                problem = (
                    "no index configured: set WHOKNOWS_INDEX_DIR (or WHOKNOWS_MODEL_URI for a "
                    "registered model), or use whoknows serve --index / --model"
                )
                state.fail(problem)
                log.error(problem)
            else:
                state.load_in_background(settings)
        stop_watching = threading.Event()
        state.watch(settings, stop_watching)
        try:
            async with mcp_sessions():
                yield
        finally:
            stop_watching.set()
            if store is None and late.store is not None:
                late.store.close()

    app = FastAPI(
        title="whoknows",
        summary="What to read and who knows about it, with the evidence.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the service's own files (serving.routes.pages)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_limit, settings.redis_url)
    app.state.exposure = Exposure()
    app.state.slots = Slots(
        settings.concurrency or None,
        None if settings.queue < 0 else settings.queue,
        settings.queue_seconds,
    )
    key_origins = KeyOrigins()
    errors.install(app)
    # Each middleware wraps the ones before it: a 413 still gets CORS headers, and
    # metrics count everything, refusals and preflights included.
    install_body_limit(app, settings.max_body_bytes)
    install_cors(app, settings.cors_origins, key_origins)
    install_metrics(app)
    pages.install(app)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(feedback.router)
    app.include_router(insights.router)  # before catalog: /people/{id}/matches first
    app.include_router(catalog.router)
    app.include_router(admin.router)
    integrations.install(app)
    mcp_sessions = mcp.install(app)
    return app
