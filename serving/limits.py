"""Limits that protect the service: request rate per caller, request body size.

The rate limiter is called from the authentication dependency, once the caller is
known (a key, a token subject, or an address when anonymous); its error is mapped to
429 with a Retry-After header in serving.errors, like every other domain error. The
body limit is ASGI middleware installed by create_app.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.exceptions import ConfigurationError, WhoknowsError

log = logging.getLogger("whoknows.serving")

#: Buckets kept at most; past it the least recently seen callers are forgotten.
DEFAULT_MAX_BUCKETS = 10_000


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


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per caller: bursts up to ``per_minute``, then ``per_minute`` a minute.

    Thread-safe (sync routes and dependencies run in a threadpool). Memory is bounded:
    a bucket left alone long enough to be full again is dropped, since a new bucket
    is the same; and at most ``max_buckets`` are kept, forgetting (that is, forgiving)
    the callers seen least recently when more arrive.

    Args:
        per_minute: requests a caller may make a minute, and the largest burst;
            0 turns limiting off.
        clock: monotonic seconds; injected by tests.
        max_buckets: the most callers tracked at once.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if per_minute < 0:
            raise ConfigurationError(
                f"rate limit must be 0 (off) or a positive number of requests a minute, "
                f"not {per_minute}"
            )
        if max_buckets < 1:
            raise ConfigurationError(f"max_buckets must be at least 1, not {max_buckets}")
        self.per_minute = per_minute
        self.max_buckets = max_buckets
        self._clock = clock
        self._rate = per_minute / 60.0  # tokens a second
        # Least recently updated first, so idle buckets are found at the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def tracked(self) -> int:
        """How many callers have a bucket in memory."""
        with self._lock:
            return len(self._buckets)

    def hit(self, identity: str) -> None:
        """Spend one request of ``identity``'s allowance.

        Raises:
            RateLimited: the allowance is used up; ``retry_after`` says for how long.
        """
        if self.per_minute == 0:
            return
        capacity = float(self.per_minute)
        with self._lock:
            now = self._clock()
            self._evict_idle(now)
            bucket = self._buckets.pop(identity, None)
            if bucket is None:
                bucket = _Bucket(capacity, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(capacity, bucket.tokens + elapsed * self._rate)
                bucket.updated = now
            self._buckets[identity] = bucket  # now the most recently used
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            missing = 1.0 - bucket.tokens
        seconds = missing * 60.0 / self.per_minute
        raise RateLimited(max(1, math.ceil(seconds - 1e-9)), per_minute=self.per_minute)

    def _evict_idle(self, now: float) -> None:
        # A bucket idle for a minute has refilled completely, whatever it held.
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < 60.0:
                break
            self._buckets.popitem(last=False)


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
