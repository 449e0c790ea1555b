"""The index the service answers from, loaded in the background at start-up.

Loading takes seconds (the encoder and the vectors); meanwhile /healthz answers
and /readyz says 503, so an orchestrator neither kills nor routes to the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from models.exceptions import WhoknowsError
from models.recommender import Recommender
from pipelines.registry import fetch
from serving.config import Settings
from serving.insights import Topics, load_topics

log = logging.getLogger("whoknows.serving")


class IndexState:
    """Holds the recommender once it is loaded, or why it is not.

    Args:
        recommender: one already loaded, or None to load one in the background.
        prepare: called with the recommender before it answers anything (the
            service hides the people who opted out or were erased).
    """

    def __init__(
        self,
        recommender: Recommender | None = None,
        prepare: Callable[[Recommender], None] | None = None,
    ) -> None:
        self.recommender: Recommender | None = None
        self.error: str | None = None
        self.topics: Topics | None = None
        self.topics_error: str | None = None
        self._prepare = prepare or (lambda recommender: None)
        self._ready = threading.Event()
        if recommender is not None:
            self._prepare(recommender)
            self.recommender = recommender
            self._ready.set()

    @property
    def status(self) -> str:
        """``ready``, ``loading`` or ``failed``."""
        if self.recommender is not None:
            return "ready"
        return "failed" if self.error else "loading"

    def fail(self, message: str) -> None:
        """Mark the index as unavailable for good, with the reason."""
        self.error = message
        self._ready.set()

    def load_in_background(self, settings: Settings) -> threading.Thread:
        """Start loading the configured index or registered model on a daemon thread."""
        thread = threading.Thread(
            target=self._load, args=(settings,), name="whoknows-index-loader", daemon=True
        )
        thread.start()
        return thread

    def load_topics(self, recommender: Recommender, directory: Path | None) -> None:
        """Read (or fit) the expertise map's topics of a loaded index; on failure, keep
        why, for GET /v1/insights/topics to say (the rest of the service is unaffected)."""
        try:
            topics = load_topics(recommender, directory)
            topics.map_for(recommender, None)  # reads the index's words once, not on a request
            self.topics = topics
        except WhoknowsError as exc:
            log.error("the expertise map is unavailable: %s", exc)
            self.topics_error = f"the expertise map is unavailable: {exc}"
        except Exception as exc:  # a loader thread must never die silently
            log.exception("unexpected error while loading the topics")
            self.topics_error = f"the expertise map is unavailable: {exc}"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (either way); False on timeout."""
        return self._ready.wait(timeout)

    def _load(self, settings: Settings) -> None:
        started = time.perf_counter()
        index_dir, encoder = settings.index_dir, settings.encoder_path
        try:
            if settings.model_uri is not None:
                log.info("fetching %s from %s", settings.model_uri, settings.mlflow_tracking_uri)
                files = fetch(settings.model_uri, settings.cache_dir, settings.mlflow_tracking_uri)
                index_dir, encoder = files.index, encoder or files.encoder
            assert index_dir is not None
            log.info("loading index %s", index_dir)
            recommender = Recommender.load(index_dir, model_path=encoder)
            self._prepare(recommender)
        except WhoknowsError as exc:
            log.error("cannot load the index: %s", exc)
            self.fail(str(exc))
            return
        except Exception as exc:  # a loader thread must never die silently
            log.exception("unexpected error while loading %s", index_dir or settings.model_uri)
            self.fail(f"unexpected error while loading the index: {exc}")
            return
        self.recommender = recommender
        self._ready.set()
        counts = recommender.manifest.counts
        log.info(
            "index %s ready in %.1f s: %d documents, %d people",
            recommender.index_version,
            time.perf_counter() - started,
            counts.get("documents", 0),
            counts.get("people", 0),
        )
        self.load_topics(recommender, settings.topics_dir)
