"""One place that turns errors into HTTP answers.

Domain errors keep their message (it says what to fix); validation errors are
flattened into one sentence naming the field; nothing else leaks its internals.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from models.exceptions import (
    ArtifactError,
    EncoderLoadError,
    NotFoundError,
    QueryError,
    WhoknowsError,
)
from pipelines.exceptions import DuplicateKeyError, StoreUnavailableError
from serving.limits import RateLimited
from serving.state import ReloadError, load_failure

log = logging.getLogger("whoknows.serving")


class ServiceUnavailable(WhoknowsError):
    """The index is not loaded: still loading (retry), or failed to load (do not).

    An HTTP-only condition, so it lives here rather than in models.exceptions.
    """

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Unauthenticated(WhoknowsError):
    """No usable credentials: none sent, unknown or revoked key, bad token (HTTP 401)."""


class Forbidden(WhoknowsError):
    """The caller is known but may not do this (HTTP 403)."""


class NotConfigured(WhoknowsError):
    """A part of the service that is off here, such as a chat integration (HTTP 404)."""


#: Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (QueryError, 422),
    (NotFoundError, 404),
    (NotConfigured, 404),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (DuplicateKeyError, 409),
    (ReloadError, 409),
    (ServiceUnavailable, 503),
    (StoreUnavailableError, 503),
    (ArtifactError, 503),
    (EncoderLoadError, 503),
)


def status_of(error: Exception) -> int:
    """The HTTP status of a domain error (500 if it has none)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


#: Seconds a client is told to wait after a 503: the index still loading is a matter
#: of seconds; a database outage or a failed load needs someone (or a reload).
RETRY_LOADING = 5
RETRY_OUTAGE = 30


def _public(exc: Exception, status: int) -> str:
    """The message a caller sees: a domain error's own below 500; for a 503, what
    failed in words (paths, URLs and driver messages go to the log only)."""
    if status < 500:
        return str(exc)
    if isinstance(exc, ServiceUnavailable):
        return str(exc)  # worded for the public where it is raised
    if status == 503:
        log.error("service unavailable: %s", exc)
        if isinstance(exc, StoreUnavailableError):
            return "the database is unavailable; the server log has the details"
        return load_failure(exc)
    return "internal error"


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_of(exc)
    body: dict[str, object] = {"detail": _public(exc, status)}
    field = getattr(exc, "field", None)
    if field:
        body["field"] = field
    headers: dict[str, str] = {}
    wait = getattr(exc, "retry_after", None)
    if wait is not None:  # rate limited, overloaded: the error knows how long
        headers["Retry-After"] = str(wait)
    elif status == 503:
        retry = getattr(exc, "retry", False)
        headers["Retry-After"] = str(RETRY_LOADING if retry else RETRY_OUTAGE)
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"}, status_code=500
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    invalid_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        position = (invalid_json.get("ctx") or {}).get("error", "")
        body = {"detail": f"the request body is not valid JSON ({position})", "field": None}
        return JSONResponse(body, status_code=422)
    messages = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        messages.append(f"{location}: {message}" if location else message)
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    body = {"detail": "; ".join(messages) or "invalid request", "field": field}
    return JSONResponse(body, status_code=422)


def _unparsable(cause: BaseException) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "it is not UTF-8"
    if isinstance(cause, RecursionError):
        return "it is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in it has too many digits"
    return "it cannot be parsed"


_METHODS = ("get", "post", "put", "patch", "delete")


class PathTemplates:
    """The documented methods of a request's path, from the app's OpenAPI operations.

    Ids may hold slashes (``{person_id:path}``), so several templates match one path
    and Starlette routes by the first route that matches: DELETE
    /v1/people/ada/matches would erase a person "ada/matches", and a 405 names the
    methods of whichever route matched first. The most specific template (the most
    literal characters) is the path's own: /v1/people/{person_id}/matches here.
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._compiled: list[tuple[int, re.Pattern[str], frozenset[str]]] | None = None

    def methods(self, path: str) -> frozenset[str] | None:
        """The methods documented for ``path`` (upper case), None if it is undocumented."""
        if self._compiled is None:
            compiled = []
            for template, operations in self._app.openapi()["paths"].items():
                pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)))
                literal = len(re.sub(r"\{[^}]+\}", "", template))
                methods = frozenset(m.upper() for m in _METHODS if m in operations)
                compiled.append((literal, pattern, methods))
            self._compiled = sorted(compiled, key=lambda entry: -entry[0])
        for _, pattern, methods in self._compiled:
            if pattern.fullmatch(path):
                return methods
        return None


def _allow(methods: frozenset[str]) -> str:
    return ", ".join(m.upper() for m in _METHODS if m.upper() in methods)


class MethodGuard:
    """Answers 405, with the documented methods in Allow, to a method the API does not
    document for the path, before routing can hand it to a broader route."""

    def __init__(self, app: ASGIApp, templates: PathTemplates) -> None:
        self.app = app
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self.templates.methods(scope["path"])
            method = scope["method"]
            if method == "HEAD":
                method = "GET"
            if methods is not None and method not in methods:
                response = JSONResponse(
                    {"detail": "Method Not Allowed"},
                    status_code=405,
                    headers={"Allow": _allow(methods)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors, in the project's shape.

    A body FastAPI could not parse (not UTF-8, nested past Python's recursion
    limit, a number of thousands of digits) is a malformed body like any other: 422.
    """
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        detail = f"the request body is not valid JSON ({_unparsable(exc.__cause__)})"
        return JSONResponse({"detail": detail, "field": None}, status_code=422)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        documented = request.app.state.path_templates.methods(request.url.path)
        if documented is not None:
            headers["Allow"] = _allow(documented)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def _documented_422s(app: FastAPI) -> None:
    """Every documented 422 in the project's shape (``Problem``), which is what
    :func:`_validation_error` answers, not FastAPI's default list of errors."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None:
                    invalid["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
        schemas = spec.get("components", {}).get("schemas", {})
        for default in ("HTTPValidationError", "ValidationError"):
            schemas.pop(default, None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""
    _documented_422s(app)
    app.state.path_templates = PathTemplates(app)
    app.add_middleware(MethodGuard, templates=app.state.path_templates)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(WhoknowsError, _domain_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation_error)
