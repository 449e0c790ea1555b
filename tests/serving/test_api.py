from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from models.encoder import Encoder
from models.recommender import Recommender
from models.records import Person
from models.results import Filters
from pipelines.store import Store
from pipelines.store.schema import recommendations
from serving.answering import Exposure
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records
from tests.serving.conftest import LOOPBACK, anonymous_client, bearer


def ask(client: TestClient, **body: Any) -> Any:
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_recommendation_has_the_documented_shape(tiny_client: TestClient) -> None:
    body = ask(tiny_client, query="kafka consumer lag", limit_resources=2, limit_people=2)
    assert set(body) == {"id", "resources", "people", "index_version"}
    assert len(body["id"]) == 32 and len(body["resources"]) == 2 and len(body["people"]) == 2
    resource = body["resources"][0]
    assert set(resource) == {"id", "title", "type", "department", "url", "snippet", "score", "why"}
    assert set(resource["why"]) == {"passage", "found_by", "signals"}
    assert resource["why"]["found_by"], "a resource says which retriever found it"
    assert sum(resource["why"]["signals"].values()) == pytest.approx(resource["score"], abs=1e-3)
    person = body["people"][0]
    profile = {"name", "department", "title", "location", "bio", "skills"}
    assert set(person) == {"id", "score", "crosses_department", "signals", "evidence"} | profile
    assert person["crosses_department"] is None, "an anonymous asker has no department"
    assert person["name"] == "Ada Lovelace"
    assert set(person["signals"]) == {"documents", "writing", "profile", "activity", "topics"}
    assert set(person["evidence"][0]) == {"id", "title", "score", "role", "share"}


def test_the_api_answers_in_the_one_shape_of_an_answer(
    tiny_client: TestClient, tiny: Recommender
) -> None:
    # The shape `whoknows query --json` prints and the MLflow model returns, plus the id.
    body = ask(tiny_client, query="kafka consumer lag", limit_resources=3, limit_people=2)
    answer = tiny.recommend("kafka consumer lag", 3, 2, Filters(groups=()))
    assert {k: v for k, v in body.items() if k != "id"} == answer.to_dict()
    fields = ("name", "department")
    narrow = anonymous_client(tiny, rate_limit=0, profile_fields=list(fields))
    with narrow:
        body = ask(narrow, query="kafka consumer lag", limit_resources=3, limit_people=2)
    assert body["people"] == answer.to_dict(fields)["people"]
    assert set(body["people"][0]) == {
        "id",
        "name",
        "department",
        "score",
        "crosses_department",
        "signals",
        "evidence",
    }


def test_each_recommendation_gets_its_own_id(tiny_client: TestClient) -> None:
    first, second = (ask(tiny_client, query="roof") for _ in range(2))
    assert first["id"] != second["id"]


def test_filters_over_http(tiny_client: TestClient) -> None:
    body = ask(
        tiny_client,
        query="roof",
        limit_resources=10,
        filters={"departments": ["Facilities"], "types": ["best-practice"]},
    )
    assert [r["id"] for r in body["resources"]] == ["d8"]
    assert all(p["department"] == "Facilities" for p in body["people"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"query": ""}, "query", "at least 1 character"),
        ({"query": " \n\t"}, "query", "blank"),
        ({"query": "\u0000"}, "query", "control characters only"),
        ({"query": "\u0000\u001b \u0085"}, "query", "control characters only"),
        ({"query": "x", "filters": {"departments": [""]}}, "filters.departments.0", "at least 1"),
        ({"query": "x" * 2001}, "query", "at most 2000 characters"),
        ({"query": "x", "limit_resources": 0}, "limit_resources", "greater than or equal to 1"),
        ({"query": "x", "limit_people": 51}, "limit_people", "less than or equal to 50"),
        ({"query": "x", "limit_people": "5"}, "limit_people", "valid integer"),
        ({"query": "x", "limit_people": True}, "limit_people", "valid integer"),
        (
            {"query": "x", "filters": {"departments": ["Legal"]}},
            "filters.departments",
            "unknown department 'Legal'",
        ),
        ({"query": "x", "filters": {"types": ["memo"]}}, "filters.types.0", "'case-study'"),
        ({"query": "x", "filters": {"department": ["Data"]}}, "filters.department", "Extra inputs"),
        ({"query": 42}, "query", "valid string"),
        ({}, "query", "Field required"),
    ],
)
def test_bad_input_gets_a_422_that_says_what_to_fix(
    tiny_client: TestClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = tiny_client.post("/v1/recommendations", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == field
    assert words in problem["detail"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "Field required"),
        (b"[]", "valid dictionary"),
        (b"null", "valid dictionary"),
        (b'{"query": "\\ud800"}', "query"),
        (b'{"query": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
        (b'{"query": "x", "limit_resources": ' + b"9" * 5000 + b"}", "too many digits"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/recommendations", "/v1/feedback"])
def test_malformed_bodies_are_422_in_the_project_s_shape(
    tiny_client: TestClient, path: str, raw: bytes, words: str
) -> None:
    response = tiny_client.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "field" in problem and words in problem["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/people/ada/opt-out", "POST"),
        ("PUT", "/v1/people/wiki/ada/opt-out", "POST"),
        ("OPTIONS", "/v1/people/ada/matches", "GET"),
        ("PATCH", "/v1/people/ada", "GET, DELETE"),
        ("GET", "/v1/feedback", "POST"),
        ("DELETE", "/v1/recommendations", "POST"),
    ],
)
def test_a_405_names_every_method_of_the_path(
    tiny_client: TestClient, method: str, path: str, allow: str
) -> None:
    response = tiny_client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_resource_and_person_lookups(tiny_client: TestClient) -> None:
    resource = tiny_client.get("/v1/resources/d2").json()
    assert resource["title"] == "Why does my Kafka consumer lag?"
    assert {a["id"] for a in resource["authors"]} == {"cy", "ada"}
    assert "Accepted answer" in resource["text"]
    person = tiny_client.get("/v1/people/ada").json()
    assert person["title"] == "Data engineer"
    assert {d["id"] for d in person["documents"]} == {"d1", "d2", "d3", "d6"}


def test_ids_with_slashes_and_colons_can_be_looked_up(encoder: Encoder) -> None:
    # Ingest names a file by its path ("wiki/guides/kafka.md") and an imported record
    # by its source ("ai:q2"); each must be reachable under /v1 exactly as it is.
    documents, people = tiny_records()
    author = Person("acct:wiki/ada", "Ada Wiki", department="Data")
    kafka = replace(documents[0], id="wiki/guides/kafka.md", authors=(author.id,))
    imported = replace(documents[1], id="ai:q2", authors=(author.id,), contributions=())
    with anonymous_client(
        Recommender.build([kafka, imported, *documents[2:]], [*people, author], encoder=encoder)
    ) as client:
        for path, wanted in (
            ("/v1/resources/wiki/guides/kafka.md", kafka.id),
            ("/v1/resources/ai:q2", imported.id),
            ("/v1/people/acct:wiki/ada", author.id),
        ):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.json()["id"] == wanted
        profile = client.get("/v1/people/acct:wiki/ada").json()
        assert {d["id"] for d in profile["documents"]} == {kafka.id, imported.id}


@pytest.mark.parametrize("path", ["/v1/resources/nope", "/v1/people/nope"])
def test_unknown_ids_are_404(tiny_client: TestClient, path: str) -> None:
    response = tiny_client.get(path)
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_health_and_docs(tiny_client: TestClient, tiny: Recommender) -> None:
    assert tiny_client.get("/healthz").json() == {
        "status": "ok",
        "index_version": tiny.index_version,
        "database": None,
        "detail": None,
    }
    ready = tiny_client.get("/readyz").json()
    assert ready == {
        "status": "ready",
        "index_version": tiny.index_version,
        "database": "ok",
        "detail": None,
    }
    assert tiny_client.get("/docs").status_code == 200
    spec = tiny_client.get("/openapi.json").json()
    assert "/v1/recommendations" in spec["paths"]


def test_not_ready_until_an_index_is_loaded(
    tiny: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(
        create_app(Settings(index_dir=tmp_path / "missing", anonymous=True)), client=LOOPBACK
    ) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "30"
        assert ready.json()["detail"].startswith("no whoknows index where the service looks")
        assert str(tmp_path) not in ready.text, "a path is for the log, not the public"
        answer = client.post("/v1/recommendations", json={"query": "x"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert answer.json()["detail"] == ready.json()["detail"]
        assert client.get("/healthz").json()["index_version"] is None
    tiny.save(tmp_path / "idx")
    load, started, release = Recommender.load, threading.Event(), threading.Event()

    def held(directory: Path, **kwargs: Any) -> Recommender:
        started.set()
        assert release.wait(30), "the test never let the load finish"
        return load(directory, **kwargs)

    monkeypatch.setattr(Recommender, "load", held)
    with TestClient(
        create_app(Settings(index_dir=tmp_path / "idx", anonymous=True)), client=LOOPBACK
    ) as client:
        try:
            assert started.wait(30), "the service never started loading its index"
            loading = client.get("/readyz")
            assert loading.status_code == 503 and loading.headers["retry-after"] == "5"
            assert loading.json()["status"] == "loading"
            asked = client.post("/v1/recommendations", json={"query": "roof"})
            assert asked.status_code == 503 and asked.headers["retry-after"] == "5"
            assert "still loading" in asked.json()["detail"]
            assert client.get("/healthz").status_code == 200, "alive while it loads"
        finally:
            release.set()
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").json()["index_version"] == tiny.index_version
        assert client.post("/v1/recommendations", json={"query": "roof"}).status_code == 200


def test_no_index_configured_is_explained() -> None:
    with TestClient(create_app(Settings(index_dir=None))) as client:
        assert "WHOKNOWS_INDEX_DIR" in client.get("/readyz").json()["detail"]


def test_an_unexpected_error_is_a_json_500_without_internals(
    tiny: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal state")

    app = create_app(Settings(anonymous=True), recommender=tiny)
    with TestClient(app, raise_server_exceptions=False, client=LOOPBACK) as client:
        monkeypatch.setattr(tiny, "recommend", broken)
        response = client.post("/v1/recommendations", json={"query": "x"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; the server log has the details"}


def test_who_asks_is_never_recommended_to_themself_and_may_ask_across_functions(
    tiny: Recommender,
) -> None:
    store = Store("sqlite://")
    _, ada = store.create_key("ada", [], person="ada")
    _, portal = store.create_key("portal", [], admin=True)
    _, plain = store.create_key("plain", [])
    app = create_app(Settings(rate_limit=0), recommender=tiny, store=store)
    question = {"query": "my kafka consumer group is lagging behind", "limit_people": 4}
    with TestClient(app, client=LOOPBACK) as client:
        anonymous = client.post("/v1/recommendations", json=question, headers=bearer(plain))
        assert anonymous.json()["people"][0]["id"] == "ada"
        as_ada = client.post("/v1/recommendations", json=question, headers=bearer(ada)).json()
        assert "ada" not in [p["id"] for p in as_ada["people"]]
        assert all(p["crosses_department"] == (p["department"] != "Data") for p in as_ada["people"])
        across = client.post(
            "/v1/recommendations",
            json=question | {"cross_functional": True, "requester_id": "cy"},
            headers=bearer(portal),
        ).json()
        assert "cy" not in [p["id"] for p in across["people"]]
        crossing = [p for p in across["people"] if p["crosses_department"]]
        assert crossing and all(p["signals"]["cross_functional"] > 0 for p in crossing)
        refused = client.post(
            "/v1/recommendations", json=question | {"requester_id": "cy"}, headers=bearer(plain)
        )
        assert refused.status_code == 403 and "requester_id" in refused.json()["detail"]
        row = store.engine.connect().execute(select(recommendations.c.caller_person)).all()
        assert [r.caller_person for r in row] == [None, "ada", "cy"], "the asker is logged"
    store.close()


def test_people_asked_often_lately_yield_to_comparable_colleagues(tiny: Recommender) -> None:
    store = Store("sqlite://")
    app = create_app(Settings(rate_limit=0, anonymous=True), recommender=tiny, store=store)
    question = {"query": "who can inspect our roof and gutters?", "limit_people": 3}
    with TestClient(app, client=LOOPBACK) as client:
        first = client.post("/v1/recommendations", json=question).json()["people"]
        assert "load" not in first[0]["signals"], "nobody has been asked yet"
        for _ in range(3):
            client.post("/v1/recommendations", json=question)
        app.state.exposure = Exposure(ttl=0.0)  # read the store now, not in 30 s
        later = client.post("/v1/recommendations", json=question).json()["people"]
    store.close()
    loaded = {p["id"]: p["signals"].get("load", 0.0) for p in later}
    assert loaded[first[0]["id"]] < 0, "the most asked carries load"


def test_a_damaged_index_is_refused_in_words_without_paths_or_faiss_internals(
    tiny: Recommender, tmp_path: Path
) -> None:
    tiny.save(tmp_path / "idx")
    faiss_file = tmp_path / "idx" / "passages.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    settings = Settings(index_dir=tmp_path / "idx", anonymous=True)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.1)
        for response in (client.get("/readyz"), client.post("/v1/recommendations", json={})):
            assert response.status_code == 503 and response.headers["retry-after"] == "30"
            assert response.json()["detail"] == (
                "the index is damaged or incomplete; the server log has the details"
            )
            assert str(tmp_path) not in response.text and ".cpp" not in response.text


def test_a_database_outage_keeps_known_keys_answering_and_feedback_says_503(
    tiny: Recommender, tmp_path: Path
) -> None:
    store = Store(f"sqlite:///{tmp_path}/keys.db")
    _, known = store.create_key("known", [])
    _, unseen = store.create_key("unseen", [])
    app = create_app(Settings(rate_limit=0), recommender=tiny, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        asked = client.post("/v1/recommendations", json={"query": "kafka"}, headers=bearer(known))
        assert asked.status_code == 200
        store.engine.dispose()  # the database goes away: every new connection fails
        store.engine = create_engine(f"sqlite:///{tmp_path}/gone/keys.db")
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["database"] == "unavailable"
        again = client.post("/v1/recommendations", json={"query": "lag"}, headers=bearer(known))
        assert again.status_code == 200 and again.json()["resources"]
        feedback = client.post(
            "/v1/feedback",
            json={
                "recommendation_id": asked.json()["id"],
                "item_id": asked.json()["resources"][0]["id"],
                "item_kind": "resource",
                "action": "helpful",
            },
            headers=bearer(known),
        )
        assert feedback.status_code == 503 and feedback.headers["retry-after"] == "30"
        assert feedback.json()["detail"] == (
            "the database is unavailable; the server log has the details"
        )
        stranger = client.post("/v1/recommendations", json={"query": "x"}, headers=bearer(unseen))
        assert stranger.status_code == 503 and str(tmp_path) not in stranger.text
