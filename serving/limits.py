"""Limits that protect the service: request rate per caller, request body size.

The rate limiter counts with the ``limits`` library, in memory or in Redis (shared by
workers and replicas). It is called from the authentication dependency, once the caller is
known (a key, a token subject, or an address when anonymous); its error is mapped to
429 with a Retry-After header in serving.errors, like every other domain error. The
body limit is ASGI middleware installed by create_app.
"""

from __future__ import annotations

import logging
import math
import time

from fastapi import FastAPI
from limits import RateLimitItemPerMinute
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.exceptions import ConfigurationError, WhoknowsError
from pipelines.store.database import masked
from serving.outage import OutageLog

log = logging.getLogger("whoknows.serving")


class RateLimited(WhoknowsError):
    """The caller has used up its requests for now (HTTP 429).

    Attributes:
        retry_after: whole seconds until the next request would be accepted (>= 1),
            the value of the Retry-After header.
        per_minute: the limit that was exceeded, when known.
    """

    def __init__(self, retry_after: int, *, per_minute: int | None = None) -> None:
        limit = f" of {per_minute} requests a minute" if per_minute is not None else ""
        super().__init__(f"rate limit{limit} exceeded; retry in {retry_after} s")
        self.retry_after = retry_after
        self.per_minute = per_minute


class RateLimiter:
    """At most ``per_minute`` requests per caller in any 60 seconds (a moving window).

    The counting is the ``limits`` library's: in this process's memory by default, or
    in Redis when a Redis URL is given, so that every worker of ``--workers N`` and
    every replica behind a load balancer counts against one allowance. A caller's
    entries expire a minute after their last request, in either storage: memory holds
    only the callers of the last minute.

    If Redis cannot be reached, requests are let through (and the failure logged, at
    most once a minute): a rate limit protects the service, it must not take it down.

    Args:
        per_minute: requests a caller may make in any minute; 0 turns limiting off.
        storage_uri: ``memory://`` (the default) or ``redis://host:port/db``.
        namespace: what the keys of this service start with in a shared Redis.
    """

    def __init__(
        self, per_minute: int, storage_uri: str | None = None, *, namespace: str = "whoknows"
    ) -> None:
        if per_minute < 0:
            raise ConfigurationError(
                f"rate limit must be 0 (off) or a positive number of requests a minute, "
                f"not {per_minute}"
            )
        self.per_minute = per_minute
        self.namespace = namespace
        self.storage_uri = storage_uri or "memory://"
        try:
            self._storage = storage_from_string(self.storage_uri, wrap_exceptions=True)
        except (ConfigurationError, ValueError, LimitsConfigurationError) as exc:
            raise ConfigurationError(
                f"cannot use {self.storage_uri!r} for rate limits: {exc}"
            ) from exc
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerMinute(max(per_minute, 1))
        self._outage = OutageLog()

    @property
    def shared(self) -> bool:
        """Whether the counts are shared between processes (Redis)."""
        return not self.storage_uri.startswith("memory://")

    def hit(self, identity: str) -> None:
        """Count one request of ``identity``.

        Raises:
            RateLimited: ``per_minute`` requests in the last minute already;
                ``retry_after`` says when the oldest of them leaves the window.
        """
        if self.per_minute == 0:
            return
        try:
            if self._limiter.hit(self._item, self.namespace, identity):
                return
            stats = self._limiter.get_window_stats(self._item, self.namespace, identity)
        except StorageError as exc:
            self._outage.failed(
                "rate limits are not counted: %s is unreachable (%s); letting requests "
                "through until it answers",
                masked(self.storage_uri),
                exc.storage_error,
            )
            return
        raise RateLimited(
            max(1, math.ceil(stats.reset_time - time.time())), per_minute=self.per_minute
        )


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is larger than ``max_bytes``.

    A declared Content-Length over the limit is refused before the app runs; a body
    without one (chunked) is counted as the app reads it, chunk by chunk, and refused
    as soon as it passes the limit. Nothing is buffered here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ConfigurationError(f"max_bytes must be 0 or more, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"the request body is too large: at most {self.max_bytes} bytes "
                "are accepted"
            },
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return

        received = 0
        started = False  # the app has begun its answer
        refused = False  # the body passed the limit
        answered = False  # and the 413 went out instead of the app's answer

        async def limited_receive() -> Message:
            nonlocal received, refused, answered
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        answered = True
                        await self._too_large()(scope, receive, send)
                    # The app stops reading as if the client had gone; whatever it
                    # answers then is dropped, since the 413 has been sent.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            log.debug("error after refusing a body over %d bytes", self.max_bytes, exc_info=True)


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    """Refuse request bodies larger than ``max_bytes`` with 413 (see BodyLimitMiddleware)."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes)
