"""The service's own pages: the search page at /, the framable page at /embed and the
administrators' dashboard at /dashboard.

Both are the <whoknows-search> web component (serving/static/whoknows.js); the
static files are served under /static, so that any portal can load the component
from the service. The pages load nothing from anywhere else (their
Content-Security-Policy says so), and only the pages allowed by
WHOKNOWS_FRAME_ANCESTORS may show /embed in a frame.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from serving.browser import page_headers
from serving.config import Settings

STATIC = Path(__file__).resolve().parents[1] / "static"
#: Swagger UI's files, as the fastapi-swagger package ships them.
SWAGGER_UI = Path(str(resources.files("fastapi_swagger") / "resources"))

router = APIRouter(include_in_schema=False)


@cache
def _template(name: str) -> Template:
    return Template((STATIC / name).read_text(encoding="utf-8"))


@router.get("/", response_class=HTMLResponse)
def search_page() -> HTMLResponse:
    """The search page: ask a question, read the answer, open a colleague's profile."""
    return HTMLResponse(_template("index.html").substitute(), headers=page_headers(["'self'"]))


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page() -> HTMLResponse:
    """The administrators' dashboard: the expertise map (department x topic), silos and
    fragile topics, the knowledge-gap queue and the analytics over time, as charts."""
    return HTMLResponse(_template("dashboard.html").substitute(), headers=page_headers(["'self'"]))


@router.get("/embed", response_class=HTMLResponse)
def embed_page(request: Request) -> HTMLResponse:
    """The component alone, for a frame: options from the query string (limit,
    department, types), a key from the fragment (#api-key=...) or a token posted by
    the framing page."""
    settings: Settings = request.app.state.settings
    parents = " ".join(s for s in settings.frame_ancestors if s != "'none'")
    body = _template("embed.html").substitute(parents=html.escape(parents, quote=True))
    return HTMLResponse(body, headers=page_headers(settings.frame_ancestors))


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    """The interactive API documentation (Swagger UI), from files the service ships:
    FastAPI's own page loads them from a CDN, which locked-down networks cannot reach."""
    return get_swagger_ui_html(
        openapi_url="openapi.json",
        title="whoknows API",
        swagger_js_url="static/docs/swagger-ui-bundle.js",
        swagger_css_url="static/docs/swagger-ui.css",
        swagger_favicon_url="static/docs/favicon-32x32.png",
    )


def install(app: FastAPI) -> None:
    """Serve the pages, the API docs and the static files (the component, its pages'
    script and style, Swagger UI)."""
    app.include_router(router)
    app.mount("/static/docs", StaticFiles(directory=SWAGGER_UI), name="docs")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
