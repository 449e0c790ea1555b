"""CORS that follows the keys' origins, and the pages' security headers (serving/browser.py)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipelines.exceptions import StoreUnavailableError
from pipelines.store import Store
from serving.browser import KeyOrigins, install_cors, page_headers

PREFLIGHT = {
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "Authorization",
}


def _cors_app(origins: list[str], key_origins: KeyOrigins | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ping": "pong"}

    install_cors(app, origins, key_origins or KeyOrigins())
    return app


def test_cors_lets_the_listed_origins_in() -> None:
    with TestClient(_cors_app(["https://intranet.example"])) as client:
        preflight = client.options(
            "/ping", headers={"Origin": "https://intranet.example"} | PREFLIGHT
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://intranet.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        other = client.get("/ping", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_origins_means_no_cors_headers() -> None:
    with TestClient(_cors_app([])) as client:
        response = client.get("/ping", headers={"Origin": "https://intranet.example"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


def test_a_key_s_origins_are_let_in_once_read_from_the_store() -> None:
    store = Store("sqlite://")
    origins = KeyOrigins(ttl=0.0)
    origins.store = store
    with TestClient(_cors_app([], origins)) as client:
        headers = {"Origin": "https://lms.example"} | PREFLIGHT
        assert client.options("/ping", headers=headers).status_code == 400
        store.create_key("lms", [], origins=["https://lms.example"])
        allowed = client.options("/ping", headers=headers)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://lms.example"
        store.revoke_key("lms")
        assert client.options("/ping", headers=headers).status_code == 400
    store.close()


def test_the_keys_origins_are_read_at_most_every_few_seconds() -> None:
    class Counting(Store):
        reads = 0

        def key_origins(self) -> frozenset[str]:
            Counting.reads += 1
            return super().key_origins()

    origins = KeyOrigins(ttl=60.0)
    assert origins() == frozenset(), "no store yet: nothing is allowed"
    origins.store = Counting("sqlite://")
    for _ in range(5):
        origins()
    assert Counting.reads == 1


def test_an_unreadable_store_keeps_the_last_known_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store("sqlite://")
    store.create_key("lms", [], origins=["https://lms.example"])
    origins = KeyOrigins(ttl=0.0)
    origins.store = store
    assert origins() == {"https://lms.example"}

    def down() -> frozenset[str]:
        raise StoreUnavailableError("the database is down")

    monkeypatch.setattr(store, "key_origins", down)
    assert origins() == {"https://lms.example"}


def test_the_pages_load_nothing_from_elsewhere_and_name_their_framers() -> None:
    headers = page_headers(["'self'", "https://intranet.example"])
    policy = headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self';")
    assert policy.endswith("frame-ancestors 'self' https://intranet.example")
    assert page_headers([])["Content-Security-Policy"].endswith("frame-ancestors 'none'")
