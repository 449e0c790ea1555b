"""The search page, the framable page, GET /v1/filters, and keys restricted to origins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.auth import request_origin
from serving.config import Settings
from tests.serving.conftest import LOOPBACK, bearer

INTRANET = "https://intranet.example.org"


@pytest.fixture
def served(tiny: Recommender) -> Iterator[tuple[TestClient, Store]]:
    store = Store("sqlite://")
    settings = Settings(rate_limit=0, frame_ancestors=["'self'", "https://*.example.org"])
    with TestClient(create_app(settings, recommender=tiny, store=store), client=LOOPBACK) as c:
        yield c, store
    store.close()


def test_the_search_page_is_the_component_and_loads_nothing_from_elsewhere(
    served: tuple[TestClient, Store],
) -> None:
    client, _ = served
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<whoknows-search key-prompt></whoknows-search>" in page.text
    assert '<script type="module" src="static/whoknows.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/static/whoknows.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert 'customElements.define("whoknows-search"' in script.text
    assert len(script.content) < 30_000, "the component stays small: no framework, no build"
    code = [line for line in script.text.splitlines() if not line.strip().startswith("//")]
    assert not [line for line in code if "://" in line], "the code names no other host"


def test_the_framable_page_allows_only_the_configured_ancestors(
    served: tuple[TestClient, Store],
) -> None:
    client, _ = served
    page = client.get("/embed")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].endswith(
        "frame-ancestors 'self' https://*.example.org"
    )
    assert '<meta name="whoknows-parents" content="&#x27;self&#x27; https://*.example.org">' in (
        page.text
    )
    assert "static/page.js" in page.text and client.get("/static/page.js").status_code == 200


def test_frame_ancestors_that_are_not_sources_are_refused() -> None:
    with pytest.raises(ValueError, match="not a frame-ancestors source"):
        Settings(frame_ancestors=["https://a.org; script-src *"])


def test_filters_list_what_the_caller_may_filter_by(served: tuple[TestClient, Store]) -> None:
    client, store = served
    _, secret = store.create_key("k", [])
    filters = client.get("/v1/filters", headers=bearer(secret)).json()
    assert filters["departments"] == ["Data", "Facilities", "Finance"]
    assert filters["types"] == [
        "document",
        "wiki",
        "report",
        "best-practice",
        "case-study",
        "course",
    ]
    assert client.get("/v1/filters").status_code == 401


def test_a_key_restricted_to_origins_is_refused_from_elsewhere(
    served: tuple[TestClient, Store],
) -> None:
    client, store = served
    _, secret = store.create_key("intranet", [], origins=[INTRANET])
    body = {"query": "kafka consumer lag"}
    ok = client.post(
        "/v1/recommendations", json=body, headers=bearer(secret) | {"Origin": INTRANET}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == INTRANET, "the key's origin may call"
    elsewhere = client.post(
        "/v1/recommendations", json=body, headers=bearer(secret) | {"Origin": "https://evil.test"}
    )
    assert elsewhere.status_code == 403
    assert "may be used only from https://intranet.example.org" in elsewhere.json()["detail"]
    assert "access-control-allow-origin" not in elsewhere.headers
    nowhere = client.post("/v1/recommendations", json=body, headers=bearer(secret))
    assert nowhere.status_code == 403 and "names no origin" in nowhere.json()["detail"]
    # A same-origin GET carries no Origin, but its Referer says where it came from.
    referred = client.get(
        "/v1/filters", headers=bearer(secret) | {"Referer": f"{INTRANET}/wiki/page?x=1"}
    )
    assert referred.status_code == 200


def test_the_keys_origins_may_make_preflight_requests(served: tuple[TestClient, Store]) -> None:
    client, store = served
    preflight = {
        "Origin": INTRANET,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    store.create_key("intranet", [], origins=[INTRANET])
    allowed = client.options("/v1/recommendations", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == INTRANET
    other = client.options("/v1/recommendations", headers=preflight | {"Origin": "https://x.test"})
    assert other.status_code == 400, "no key and no setting names that origin"


@pytest.mark.parametrize(
    ("origin", "referer", "expected"),
    [
        ("https://A.example.org", None, "https://a.example.org"),
        (None, "https://a.example.org:443/page#x", "https://a.example.org"),
        ("null", None, None),
        (None, None, None),
        ("not an origin", "https://b.org/", None),
    ],
)
def test_the_origin_of_a_request(
    origin: str | None, referer: str | None, expected: str | None
) -> None:
    assert request_origin(origin, referer) == expected
