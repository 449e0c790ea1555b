"""Prometheus metrics: requests and latency per route, and the index being served.

Every app has its own CollectorRegistry (``app.state.metrics``), so tests can build
many apps in one process. Requests are labelled by the route's template, never the
raw path, so neither ids nor random paths grow the number of series; the index
gauges are read from ``app.state.index`` when Prometheus scrapes ``GET /metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The route label of requests that matched no route (404s of random paths).
UNMATCHED = "unmatched"
#: The method label of requests whose method is not a standard one.
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
INDEX_COUNTS = ("documents", "people", "passages")


def route_template(scope: Scope) -> str:
    """The template of the route a request matched, e.g. ``/v1/resources/{resource_id:path}``.

    Starlette's router stores the matched route in the scope; a request that matched
    none (or has not been routed yet) is ``unmatched``.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Count each HTTP request and time it, by method, route template and status."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "500"  # what the client gets when the app raises

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            labels = (method, route_template(scope), status)
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(time.perf_counter() - started)


class IndexCollector(Collector):
    """The size and version of the index the app serves, read at scrape time.

    Nothing but ``whoknows_index_ready 0`` while the index is loading or has failed.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples (for the registry's duplicate check)."""
        yield GaugeMetricFamily("whoknows_index_ready", "")
        for kind in INDEX_COUNTS:
            yield GaugeMetricFamily(f"whoknows_index_{kind}", "")
        yield InfoMetricFamily("whoknows_index", "")

    def collect(self) -> Iterator[Metric]:
        """The current values."""
        state = getattr(self.app.state, "index", None)
        recommender = getattr(state, "recommender", None)
        yield GaugeMetricFamily(
            "whoknows_index_ready",
            "1 when an index is loaded and answering, else 0",
            value=0 if recommender is None else 1,
        )
        if recommender is None:
            return
        counts = recommender.manifest.counts
        for kind in INDEX_COUNTS:
            yield GaugeMetricFamily(
                f"whoknows_index_{kind}",
                f"{kind.capitalize()} in the index being served",
                value=counts.get(kind, 0),
            )
        yield InfoMetricFamily(
            "whoknows_index",
            "The index being served",
            value={"version": str(recommender.index_version)},
        )


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """Instrument an app and serve its metrics at ``GET /metrics``.

    Install it after the other middleware, so it is outermost and counts their
    answers too (413, CORS preflights).

    Returns:
        the app's registry, also stored as ``app.state.metrics``.
    """
    registry = CollectorRegistry()
    labels = ("method", "route", "status")
    requests = Counter(
        "whoknows_http_requests",
        "HTTP requests answered, by method, route template and status",
        labels,
        registry=registry,
    )
    latency = Histogram(
        "whoknows_http_request_duration_seconds",
        "Time to answer an HTTP request, by method, route template and status",
        labels,
        registry=registry,
    )
    registry.register(IndexCollector(app))
    app.state.metrics = registry
    app.add_middleware(MetricsMiddleware, requests=requests, latency=latency)

    async def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return registry
