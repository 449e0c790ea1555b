"""The index the service answers from, loaded in the background at start-up,
and reloaded without downtime on request.

Loading takes seconds (the encoder and the vectors); meanwhile /healthz answers
and /readyz says 503, so an orchestrator neither kills nor routes to the process.

What is served (the recommender and its topics) is one immutable ``Served``
value, replaced in a single assignment: a request takes it once, when it starts,
and finishes on it even if a reload swaps in a new index meanwhile; the old index
is freed when the last such request ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.artifact import Manifest
from models.exceptions import (
    ArtifactFormatError,
    ArtifactNotFoundError,
    EncoderLoadError,
    EncoderMismatchError,
    WhoknowsError,
)
from models.recommender import Recommender
from pipelines.exceptions import RegistryFetchError
from pipelines.registry import fetch
from serving.config import Settings
from serving.insights import Topics, load_topics

log = logging.getLogger("whoknows.serving")


class ReloadError(WhoknowsError):
    """A reload could not happen: another is running, or the new index would not load
    (the service goes on answering from the index it had; HTTP 409)."""


@dataclass(frozen=True, slots=True)
class Served:
    """The recommender being served and its expertise map's topics (or why not)."""

    recommender: Recommender
    topics: Topics | None = None
    topics_error: str | None = None


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a reload did."""

    previous_version: str | None
    index_version: str
    changed: bool
    seconds: float


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
        self.served: Served | None = None
        self.error: str | None = None
        self._prepare = prepare or (lambda recommender: None)
        self._ready = threading.Event()
        self._reloading = threading.Lock()
        if recommender is not None:
            self._prepare(recommender)
            self.served = Served(recommender)
            self._ready.set()

    @property
    def recommender(self) -> Recommender | None:
        """The recommender being served, if any."""
        served = self.served
        return None if served is None else served.recommender

    @property
    def topics(self) -> Topics | None:
        """The served index's topics, once computed."""
        served = self.served
        return None if served is None else served.topics

    @property
    def topics_error(self) -> str | None:
        """Why the served index has no topics, if it cannot have them."""
        served = self.served
        return None if served is None else served.topics_error

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
        """Read (or fit) the expertise map's topics of the served index; on failure, keep
        why, for GET /v1/insights/topics to say (the rest of the service is unaffected)."""
        topics, error = _topics_of(recommender, directory)
        served = self.served
        if served is not None and served.recommender is recommender:
            self.served = Served(recommender, topics, error)

    def reload(self, settings: Settings) -> Reloaded:
        """Load the configured index (or the registered model's alias) again and serve
        it, with its topics, in one swap; requests in flight finish on the old one.

        Raises:
            ReloadError: another reload is running, or the index cannot be loaded;
                the service keeps serving what it had.
        """
        if not self._reloading.acquire(blocking=False):
            raise ReloadError("a reload is already running; try again when it has finished")
        try:
            started = time.perf_counter()
            previous = self.recommender
            try:
                recommender = self._read(settings)
            except WhoknowsError as exc:
                log.error("reload failed, still serving the index it had: %s", exc)
                still = previous.index_version if previous is not None else "nothing"
                raise ReloadError(
                    f"the new index could not be loaded ({exc}); still serving {still}"
                ) from exc
            if previous is not None and recommender.index_version == previous.index_version:
                return Reloaded(previous.index_version, previous.index_version, False, 0.0)
            topics, error = _topics_of(recommender, settings.topics_dir)
            self.served = Served(recommender, topics, error)
            self.error = None
            self._ready.set()
            seconds = time.perf_counter() - started
            log.info(
                "reloaded: serving index %s (was %s), loaded in %.1f s",
                recommender.index_version,
                previous.index_version if previous is not None else "nothing",
                seconds,
            )
            return Reloaded(
                previous.index_version if previous is not None else None,
                recommender.index_version,
                True,
                seconds,
            )
        finally:
            self._reloading.release()

    def watch(self, settings: Settings, stop: threading.Event) -> threading.Thread | None:
        """Every ``settings.watch_seconds``, reload if the index directory holds
        another build than the one served, until ``stop`` is set (None: not watching,
        or no directory to watch)."""
        if settings.watch_seconds <= 0 or settings.index_dir is None:
            return None
        directory = settings.index_dir

        def look() -> None:
            while not stop.wait(settings.watch_seconds):
                served = self.recommender
                try:
                    version = Manifest.read(directory).index_version
                except WhoknowsError:
                    continue  # being replaced, or broken: the served index stays
                if self.status == "loading" or (
                    served is not None and version == served.index_version
                ):
                    continue
                try:
                    self.reload(settings)
                except ReloadError as exc:
                    log.warning("the index directory changed but was not reloaded: %s", exc)
                except Exception:  # a watcher thread must never die silently
                    log.exception("unexpected error while reloading %s", directory)

        thread = threading.Thread(target=look, name="whoknows-index-watcher", daemon=True)
        thread.start()
        log.info("watching %s for a new build every %.1f s", directory, settings.watch_seconds)
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (either way); False on timeout."""
        return self._ready.wait(timeout)

    def _read(self, settings: Settings) -> Recommender:
        """The configured index, loaded and prepared (privacy requests applied)."""
        index_dir, encoder = settings.index_dir, settings.encoder_path
        if settings.model_uri is not None:
            log.info("fetching %s from %s", settings.model_uri, settings.mlflow_tracking_uri)
            files = fetch(settings.model_uri, settings.cache_dir, settings.mlflow_tracking_uri)
            index_dir, encoder = files.index, encoder or files.encoder
        if index_dir is None:
            raise ReloadError("no index configured: set WHOKNOWS_INDEX_DIR or WHOKNOWS_MODEL_URI")
        log.info("loading index %s", index_dir)
        recommender = Recommender.load(index_dir, model_path=encoder)
        self._prepare(recommender)
        return recommender

    def _load(self, settings: Settings) -> None:
        started = time.perf_counter()
        try:
            recommender = self._read(settings)
        except WhoknowsError as exc:
            log.error("cannot load the index: %s", exc)
            self.fail(load_failure(exc))
            return
        except Exception as exc:  # a loader thread must never die silently
            log.exception(
                "unexpected error while loading %s", settings.index_dir or settings.model_uri
            )
            self.fail(load_failure(exc))
            return
        self.served = Served(recommender)
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


def load_failure(exc: Exception) -> str:
    """Why the index is not served, in words any caller may read: /readyz and every
    503 are public, so no path, URL or library message (the log has those)."""
    if isinstance(exc, RegistryFetchError):
        what = "the registered model named by WHOKNOWS_MODEL_URI could not be fetched"
    elif isinstance(exc, ArtifactNotFoundError):
        what = "no whoknows index where the service looks (WHOKNOWS_INDEX_DIR or _MODEL_URI)"
    elif isinstance(exc, EncoderMismatchError):
        what = "the index was built with another encoder than the one configured"
    elif isinstance(exc, ArtifactFormatError):
        what = "the index is damaged or incomplete"
    elif isinstance(exc, EncoderLoadError):
        what = "the encoder model could not be loaded"
    else:
        what = "the index could not be loaded"
    return f"{what}; the server log has the details"


def _topics_of(
    recommender: Recommender, directory: Path | None
) -> tuple[Topics | None, str | None]:
    """The topics of an index, or why there are none (logged)."""
    try:
        topics = load_topics(recommender, directory)
        topics.map_for(recommender, None)  # reads the index's words once, not on a request
        return topics, None
    except WhoknowsError as exc:
        log.error("the expertise map is unavailable: %s", exc)
        return None, f"the expertise map is unavailable: {exc}"
    except Exception as exc:  # a loader thread must never die silently
        log.exception("unexpected error while loading the topics")
        return None, f"the expertise map is unavailable: {exc}"
