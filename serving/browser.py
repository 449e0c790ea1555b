"""What browsers need: CORS that follows the keys' origins, and the pages' security headers.

A key made with ``whoknows keys create --origins https://intranet.example.org``
is meant for a web page on that origin, so browsers there may call the API
without anyone also listing the origin in WHOKNOWS_CORS_ORIGINS: the CORS
middleware allows the configured origins and those of every valid key, read
from the store at most every few seconds. Which key a request carries is
checked by authentication (serving.auth), not here: a preflight carries none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from pipelines.exceptions import StoreError
from pipelines.store import Store

log = logging.getLogger("whoknows.serving")

#: Seconds a read of the keys' origins is reused.
ORIGINS_TTL = 5.0


class KeyOrigins:
    """The origins that valid API keys may be used from, re-read at most every ``ttl`` s.

    The store is attached once it is open (the app's lifespan); until then, and
    if it cannot be read, the last known origins are used.
    """

    def __init__(self, ttl: float = ORIGINS_TTL) -> None:
        self.store: Store | None = None
        self._ttl = ttl
        self._origins: frozenset[str] = frozenset()
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str]:
        now = time.monotonic()
        if self.store is None or now - self._read_at < self._ttl:
            return self._origins
        with self._lock:
            if now - self._read_at >= self._ttl:
                try:
                    self._origins = self.store.key_origins()
                except StoreError as exc:
                    log.warning("cannot read the API keys' origins: %s", exc)
                self._read_at = now
        return self._origins


class KeyAwareCORS(CORSMiddleware):
    """Starlette's CORS, allowing the configured origins and those of the keys."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str], key_origins: KeyOrigins) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
        self.key_origins = key_origins

    def is_allowed_origin(self, origin: str) -> bool:
        """Configured, or the origin of a valid key."""
        return super().is_allowed_origin(origin) or origin in self.key_origins()


def install_cors(app: FastAPI, origins: Sequence[str], key_origins: KeyOrigins) -> None:
    """Let browsers on the configured origins, and on the keys' origins, call the API.

    Credentials are sent as an Authorization header, never as cookies, so
    ``allow_credentials`` stays off and ``*`` is a valid origin.
    """
    app.add_middleware(KeyAwareCORS, origins=list(origins), key_origins=key_origins)


def page_headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """The security headers of the service's own pages (/ and /embed).

    Everything they load comes from the service itself; only the pages in
    ``frame_ancestors`` may show them in a frame.
    """
    ancestors = " ".join(frame_ancestors) or "'none'"
    policy = (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
