from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from models.recommender import Recommender
from serving.limits import install_body_limit
from serving.metrics import install_metrics
from serving.state import IndexState, Served

REQUESTS = "whoknows_http_requests_total"


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/resources/{resource_id:path}")
    def resource(resource_id: str) -> dict[str, str]:
        return {"id": resource_id}

    @app.post("/v1/things", status_code=201)
    def create() -> dict[str, str]:
        return {"created": "yes"}

    @app.get("/v1/missing")
    def missing() -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    install_metrics(app)
    return app


@pytest.fixture
def app() -> FastAPI:
    return build_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in a scrape, by their sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(method: str, route: str, status: str) -> tuple[tuple[str, str], ...]:
    return (("method", method), ("route", route), ("status", status))


def test_requests_are_counted_by_route_template_not_path(client: TestClient) -> None:
    for path in ("/v1/resources/a", "/v1/resources/b/c.md", "/v1/resources/a"):
        assert client.get(path).status_code == 200
    counted = samples(client, REQUESTS)
    assert counted[labels("GET", "/v1/resources/{resource_id:path}", "200")] == 3
    assert not any("b/c.md" in value for key in counted for _, value in key)


def test_paths_that_match_no_route_share_one_label(client: TestClient) -> None:
    for number in range(5):
        assert client.get(f"/random/{number}").status_code == 404
    counted = samples(client, REQUESTS)
    assert counted[labels("GET", "unmatched", "404")] == 5
    # the scrape itself is counted once it has been answered, so not in its own numbers
    assert {value for key in counted for name, value in key if name == "route"} == {"unmatched"}


def test_the_status_label_is_what_the_client_got(client: TestClient) -> None:
    assert client.post("/v1/things").status_code == 201
    assert client.get("/v1/missing").status_code == 404
    assert client.get("/boom").status_code == 500
    assert client.delete("/v1/things").status_code == 405
    counted = samples(client, REQUESTS)
    assert counted[labels("POST", "/v1/things", "201")] == 1
    assert counted[labels("GET", "/v1/missing", "404")] == 1
    assert counted[labels("GET", "/boom", "500")] == 1
    assert counted[labels("DELETE", "/v1/things", "405")] == 1


def test_unknown_methods_share_one_label(client: TestClient) -> None:
    client.request("BREW", "/v1/things")
    client.request("WHEN", "/v1/things")
    counted = samples(client, REQUESTS)
    assert counted[labels("other", "/v1/things", "405")] == 2


def test_latency_is_observed_per_route(client: TestClient) -> None:
    started = time.perf_counter()
    client.get("/v1/resources/a")
    client.get("/v1/resources/b")
    elapsed = time.perf_counter() - started
    key = labels("GET", "/v1/resources/{resource_id:path}", "200")
    assert samples(client, "whoknows_http_request_duration_seconds_count")[key] == 2
    total = samples(client, "whoknows_http_request_duration_seconds_sum")[key]
    assert 0 < total <= elapsed, "the two requests' own time, as the server measured it"
    buckets = samples(client, "whoknows_http_request_duration_seconds_bucket")
    assert buckets[tuple(sorted((*key, ("le", "+Inf"))))] == 2


def test_metrics_are_served_in_the_text_format(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE whoknows_http_requests_total counter" in response.text
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


def test_the_metrics_route_is_not_in_the_api_schema(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_each_app_has_its_own_registry() -> None:
    first, second = build_app(), build_app()
    assert first.state.metrics is not second.state.metrics
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/v1/resources/a")
        key = labels("GET", "/v1/resources/{resource_id:path}", "200")
        assert samples(one, REQUESTS)[key] == 1
        assert key not in samples(two, REQUESTS)


def test_a_loading_index_reports_not_ready_and_no_sizes(app: FastAPI, client: TestClient) -> None:
    app.state.index = IndexState(None)
    assert samples(client, "whoknows_index_ready") == {(): 0}
    assert samples(client, "whoknows_index_documents") == {}
    assert samples(client, "whoknows_index_info") == {}


def test_an_app_without_index_state_still_scrapes(client: TestClient) -> None:
    assert samples(client, "whoknows_index_ready") == {(): 0}


def test_the_index_gauges_are_read_at_scrape_time(app: FastAPI, client: TestClient) -> None:
    app.state.index = IndexState(None)
    assert samples(client, "whoknows_index_people") == {}
    loaded = SimpleNamespace(
        manifest=SimpleNamespace(counts={"documents": 3, "people": 2, "passages": 7}),
        index_version="v-one",
    )
    app.state.index.served = Served(loaded)  # type: ignore[arg-type]
    assert samples(client, "whoknows_index_ready") == {(): 1}
    assert samples(client, "whoknows_index_documents") == {(): 3}
    assert samples(client, "whoknows_index_people") == {(): 2}
    assert samples(client, "whoknows_index_passages") == {(): 7}
    assert samples(client, "whoknows_index_info") == {(("version", "v-one"),): 1}
    loaded.index_version = "v-two"
    assert samples(client, "whoknows_index_info") == {(("version", "v-two"),): 1}


def test_the_index_gauges_describe_a_real_recommender(tiny: Recommender) -> None:
    app = build_app()
    app.state.index = IndexState(tiny)
    counts = tiny.manifest.counts
    with TestClient(app) as client:
        assert samples(client, "whoknows_index_documents") == {(): counts["documents"]}
        assert samples(client, "whoknows_index_people") == {(): counts["people"]}
        assert samples(client, "whoknows_index_passages") == {(): counts["passages"]}
        assert samples(client, "whoknows_index_info") == {(("version", tiny.index_version),): 1}


def test_installed_outermost_it_counts_what_other_middleware_refuses() -> None:
    app = FastAPI()

    @app.post("/v1/things")
    def create() -> dict[str, str]:
        return {"created": "yes"}

    install_body_limit(app, 1024)
    install_metrics(app)
    with TestClient(app) as client:
        assert client.post("/v1/things", content=b"x" * 2000).status_code == 413
        counted = samples(client, REQUESTS)
    assert counted[labels("POST", "unmatched", "413")] == 1
