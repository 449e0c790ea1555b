"""The HTTP server under ``whoknows serve``: uvicorn, with a bound on how long a client
may take to send a request.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds,
but a client that connects and sends nothing, or headers without the end of its
body, holds its connection (and a file descriptor, and for a body a waiting task)
for as long as it likes: fifty such clients were seen holding theirs indefinitely.
:class:`BoundedH11Protocol` gives every request ``WHOKNOWS_READ_TIMEOUT`` seconds
(default 30) from the connection's start, or from the previous response, to
arrive whole; past it the connection is closed. The time a recommendation takes
to compute is not counted: that is bounded by the queue (serving.answering.Slots).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("whoknows.serving")

#: The environment variable (and Settings.read_timeout) with the bound, in seconds.
READ_TIMEOUT_VARIABLE = "WHOKNOWS_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT = 30.0


@functools.cache
def read_timeout() -> float:
    """The bound in this process (read once: worker processes inherit the variable)."""
    return float(os.environ.get(READ_TIMEOUT_VARIABLE, DEFAULT_READ_TIMEOUT))


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request does not arrive whole
    within :func:`read_timeout` seconds (headers and body)."""

    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._read_timer = self.loop.call_later(read_timeout(), self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return  # closed already, or the request arrived: the answer is being computed
        log.info(
            "closing a connection from %s: no complete request within %.0f s",
            self.client[0] if self.client else "an unknown address",
            read_timeout(),
        )
        self.transport.close()
