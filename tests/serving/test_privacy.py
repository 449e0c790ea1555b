"""Privacy over HTTP: opt-out, erasure, profile fields; feedback and analytics end to end."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.store import Store, person_hash
from pipelines.store.schema import feedback, recommendations, recommended_items
from serving.app import create_app
from serving.config import Settings
from serving.privacy import PrivacySignal
from tests.conftest import tiny_records
from tests.serving.conftest import LOOPBACK, bearer

KAFKA = {"query": "kafka consumer lag", "limit_people": 4, "limit_resources": 8}


@dataclasses.dataclass
class Service:
    client: TestClient
    store: Store
    recommender: Recommender
    admin: dict[str, str]
    ada: dict[str, str]
    cy: dict[str, str]


@pytest.fixture
def service(encoder: Encoder) -> Iterator[Service]:
    """A fresh tiny index and store per test: privacy requests change both."""
    documents, people = tiny_records()
    recommender = Recommender.build(documents, people, encoder=encoder)
    store = Store("sqlite://")
    _, admin = store.create_key("admin", [], admin=True)
    _, ada = store.create_key("ada", [], person="ada")
    _, cy = store.create_key("cy", [], person="cy")
    app = create_app(Settings(rate_limit=0), recommender=recommender, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        yield Service(client, store, recommender, bearer(admin), bearer(ada), bearer(cy))
    store.close()


def people_of(service: Service, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = service.client.post("/v1/recommendations", json=KAFKA, headers=headers)
    assert response.status_code == 200, response.text
    people: list[dict[str, Any]] = response.json()["people"]
    return people


def helpful_on_the_first_resource(service: Service, headers: dict[str, str]) -> dict[str, str]:
    """A feedback event (helpful) on the first resource of a new recommendation."""
    answer = service.client.post("/v1/recommendations", json=KAFKA, headers=headers).json()
    return {
        "recommendation_id": answer["id"],
        "item_id": answer["resources"][0]["id"],
        "item_kind": "resource",
        "action": "helpful",
    }


def test_a_person_opts_out_with_their_own_key(service: Service) -> None:
    assert "ada" in {p["id"] for p in people_of(service, service.cy)}
    refused = service.client.post("/v1/people/ada/opt-out", headers=service.cy)
    assert refused.status_code == 403
    done = service.client.post("/v1/people/ada/opt-out", headers=service.ada)
    assert done.status_code == 200 and done.json()["status"] == "opted_out"
    assert "ada" not in {p["id"] for p in people_of(service, service.cy)}
    assert service.client.get("/v1/people/ada", headers=service.cy).status_code == 404
    authors = service.client.get("/v1/resources/d2", headers=service.cy).json()["authors"]
    assert [a["id"] for a in authors] == ["cy"], "an opted-out author is not named either"
    assert person_hash("ada") in service.store.suppressed()


def test_an_opt_out_survives_a_restart(service: Service, encoder: Encoder) -> None:
    service.client.post("/v1/people/ada/opt-out", headers=service.ada)
    documents, people = tiny_records()
    fresh = Recommender.build(documents, people, encoder=encoder)
    app = create_app(Settings(rate_limit=0), recommender=fresh, store=service.store)
    with TestClient(app, client=LOOPBACK) as client:
        response = client.post("/v1/recommendations", json=KAFKA, headers=service.cy)
        assert "ada" not in {p["id"] for p in response.json()["people"]}


def test_an_opted_out_profile_field_keeps_a_person_out(encoder: Encoder) -> None:
    documents, people = tiny_records()
    people = [dataclasses.replace(p, opt_out=p.id == "ada") for p in people]
    recommender = Recommender.build(documents, people, encoder=encoder)
    answer = recommender.recommend(KAFKA["query"], limit_people=4)
    assert answer.people and "ada" not in {h.person.id for h in answer.people}


def feedback_on(
    service: Service, answer: dict[str, Any], kind: str, item: str, headers: dict[str, str]
) -> None:
    action = "contacted" if kind == "person" else "helpful"
    event = {"recommendation_id": answer["id"], "item_id": item, "item_kind": kind}
    response = service.client.post("/v1/feedback", json=event | {"action": action}, headers=headers)
    assert response.status_code == 201, response.text


def test_an_admin_erases_a_person(service: Service) -> None:
    # Cy is recommended Ada and contacts her; Ada asks and rates a resource.
    by_cy = service.client.post("/v1/recommendations", json=KAFKA, headers=service.cy).json()
    assert "ada" in {p["id"] for p in by_cy["people"]}
    feedback_on(service, by_cy, "person", "ada", service.cy)
    feedback_on(service, by_cy, "resource", by_cy["resources"][0]["id"], service.cy)
    by_ada = service.client.post("/v1/recommendations", json=KAFKA, headers=service.ada).json()
    feedback_on(service, by_ada, "resource", by_ada["resources"][0]["id"], service.ada)
    assert service.client.delete("/v1/people/ada", headers=service.cy).status_code == 403
    erased = service.client.delete("/v1/people/ada", headers=service.admin)
    assert erased.status_code == 200, erased.text
    # Two feedback events (about her, by her), her row among Cy's people, her own
    # recommendation with its items, and her key.
    her_items = len(by_ada["resources"]) + len(by_ada["people"])
    assert erased.json()["status"] == "erased"
    assert erased.json()["deleted_records"] == 2 + 1 + (1 + her_items) + 1
    with service.store.engine.connect() as connection:
        left = connection.execute(select(feedback.c.item_id, feedback.c.caller)).all()
        assert [tuple(row) for row in left] == [(by_cy["resources"][0]["id"], "cy")]
        asked = connection.execute(select(recommendations.c.id)).scalars().all()
        assert asked == [by_cy["id"]]
        named = connection.execute(select(recommended_items.c.item_id)).scalars().all()
        assert "ada" not in named
        assert len(named) == len(by_cy["resources"]) + len(by_cy["people"]) - 1
    assert "ada" not in {p["id"] for p in people_of(service, service.cy)}
    assert service.client.get("/v1/people/ada", headers=service.admin).status_code == 404
    # Her key was bound to her: it is gone with her.
    assert service.client.get("/v1/resources/d1", headers=service.ada).status_code == 401
    assert service.store.suppressed()[person_hash("ada")] == "erasure"


def test_only_the_listed_profile_fields_are_returned(encoder: Encoder) -> None:
    documents, people = tiny_records()
    recommender = Recommender.build(documents, people, encoder=encoder)
    store = Store("sqlite://")
    _, secret = store.create_key("k", [])
    settings = Settings(rate_limit=0, profile_fields=["name", "department"])
    with TestClient(create_app(settings, recommender, store), client=LOOPBACK) as client:
        answer = client.post("/v1/recommendations", json=KAFKA, headers=bearer(secret)).json()
        person = answer["people"][0]
        assert {"id", "name", "department"} <= set(person)
        assert not {"title", "bio", "skills", "location"} & set(person)
        detail = client.get("/v1/people/ada", headers=bearer(secret)).json()
        assert set(detail) == {"id", "name", "department", "documents"}
    store.close()


def test_feedback_is_checked_and_feeds_analytics(service: Service) -> None:
    answer = service.client.post("/v1/recommendations", json=KAFKA, headers=service.cy).json()
    resource = answer["resources"][0]["id"]
    person = answer["people"][0]["id"]

    def send(**overrides: str) -> int:
        event = {
            "recommendation_id": answer["id"],
            "item_id": resource,
            "item_kind": "resource",
            "action": "helpful",
        } | overrides
        return service.client.post("/v1/feedback", json=event, headers=service.cy).status_code

    assert send() == 201
    assert send(action="click") == 201
    assert send(item_id=person, item_kind="person", action="contacted") == 201
    assert send(recommendation_id="0" * 32) == 404
    assert send(item_id="d-not-recommended") == 422
    assert send(action="loved") == 422
    anonymous = service.client.post("/v1/feedback", json={})
    assert anonymous.status_code == 401, "who asks is checked before what they send"

    assert service.client.get("/v1/analytics", headers=service.cy).status_code == 403
    report = service.client.get("/v1/analytics", headers=service.admin)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["queries"] == 1
    assert body["click_through_rate"] == 1.0 and body["helpful_rate"] == 1.0
    # Cy (Data) was recommended colleagues; the contacted one is in Data too.
    assert body["cross_functional"]["contacted_known"] == 1
    assert body["load"]["top"][0]["times_recommended"] == 1
    assert body["coverage"] == 0.75, "of the four, all but Cy (who asked) were recommended"
    bad = service.client.get(
        "/v1/analytics", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=service.admin
    )
    assert bad.status_code == 422


def test_opted_out_people_are_not_counted_in_analytics(service: Service) -> None:
    people_of(service, service.cy)
    before = service.client.get("/v1/analytics", headers=service.admin).json()
    assert "ada" in {e["person_id"] for e in before["load"]["top"]}
    service.client.post("/v1/people/ada/opt-out", headers=service.admin)
    after = service.client.get("/v1/analytics", headers=service.admin).json()
    assert "ada" not in {e["person_id"] for e in after["load"]["top"]}


def test_feedback_on_someone_elses_recommendation_is_as_if_it_did_not_exist(
    service: Service,
) -> None:
    event = helpful_on_the_first_resource(service, service.cy)
    theirs = service.client.post("/v1/feedback", json=event, headers=service.ada)
    missing = service.client.post(
        "/v1/feedback", json=event | {"recommendation_id": "f" * 32}, headers=service.ada
    )
    assert theirs.status_code == missing.status_code == 404
    assert service.client.post("/v1/feedback", json=event, headers=service.cy).status_code == 201


def test_a_privacy_request_reaches_every_worker(service: Service, encoder: Encoder) -> None:
    # A second worker: its own copy of the index, the same database.
    documents, people = tiny_records()
    other = Recommender.build(documents, people, encoder=encoder)
    app = create_app(Settings(rate_limit=0), recommender=other, store=service.store)
    with TestClient(app, client=LOOPBACK) as second:
        app.state.privacy.interval = 0.0  # look at the database on every request
        asked = second.post("/v1/recommendations", json=KAFKA, headers=service.cy).json()
        assert "ada" in {p["id"] for p in asked["people"]}
        service.client.post("/v1/people/ada/opt-out", headers=service.ada)
        asked = second.post("/v1/recommendations", json=KAFKA, headers=service.cy).json()
        assert "ada" not in {p["id"] for p in asked["people"]}


@pytest.mark.parametrize("redis", [True, False])
def test_with_a_shared_redis_a_privacy_request_reaches_other_workers_at_once(
    encoder: Encoder, redis: bool
) -> None:
    documents, people = tiny_records()
    store = Store("sqlite://")
    _, ada = store.create_key("ada", [], person="ada")
    _, cy = store.create_key("cy", [], person="cy")
    settings = Settings(rate_limit=0, redis_url="redis://127.0.0.1:6379/0" if redis else None)
    first, second = (
        create_app(
            settings,
            recommender=Recommender.build(documents, people, encoder=encoder),
            store=store,
        )
        for _ in range(2)
    )
    with TestClient(first, client=LOOPBACK) as one, TestClient(second, client=LOOPBACK) as two:
        second.state.privacy.interval = 3600.0  # the database alone would be read in an hour
        assert "ada" in {
            p["id"]
            for p in two.post("/v1/recommendations", json=KAFKA, headers=bearer(cy)).json()[
                "people"
            ]
        }
        assert one.post("/v1/people/ada/opt-out", headers=bearer(ada)).status_code == 200
        asked = two.post("/v1/recommendations", json=KAFKA, headers=bearer(cy)).json()
        assert ("ada" in {p["id"] for p in asked["people"]}) is not redis
    store.close()


def test_a_profile_opt_out_is_recorded_so_exports_skip_it(encoder: Encoder, tmp_path: Path) -> None:
    # Dee is recommended and contacted; then her profile says she opted out.
    documents, people = tiny_records()
    store = Store("sqlite://")
    _, cy = store.create_key("cy", [], person="cy")
    question = {"query": "payroll and tax withholding", "limit_people": 4}
    recommender = Recommender.build(documents, people, encoder=encoder)
    with TestClient(create_app(Settings(), recommender, store), client=LOOPBACK) as client:
        answer = client.post("/v1/recommendations", json=question, headers=bearer(cy)).json()
        assert "dee" in {p["id"] for p in answer["people"]}
        for kind, item, action in (
            ("person", "dee", "contacted"),
            ("person", "ada", "contacted"),
            ("resource", answer["resources"][0]["id"], "helpful"),
        ):
            event = {"recommendation_id": answer["id"], "item_id": item, "item_kind": kind}
            sent = client.post("/v1/feedback", json=event | {"action": action}, headers=bearer(cy))
            assert sent.status_code == 201, sent.text
    people = [dataclasses.replace(p, opt_out=p.id == "dee") for p in people]
    recommender = Recommender.build(documents, people, encoder=encoder)
    with TestClient(create_app(Settings(), recommender, store), client=LOOPBACK):
        assert store.suppressed() == {person_hash("dee"): "opt_out"}
    summary = store.export_judgments(tmp_path)
    store.close()
    assert (summary.queries, summary.resource_judgments, summary.people_judgments) == (1, 1, 1)
    qrels = (tmp_path / "qrels_people.tsv").read_text().splitlines()
    assert qrels[1:] == [f"{answer['id']}\tada\t2"], "Dee's judgment is left out"


def test_analytics_dates_out_of_range_are_422(service: Service) -> None:
    for params in ({"to": "9999-12-31T23:59:59-01:00"}, {"to": "0001-01-05"}):
        response = service.client.get("/v1/analytics", params=params, headers=service.admin)
        assert response.status_code == 422, (params, response.text)


def test_a_department_only_restricted_documents_name_is_not_revealed(encoder: Encoder) -> None:
    documents, people = tiny_records()
    documents = [
        dataclasses.replace(d, department="M&A Falcon", allowed_groups=("board",))
        if d.id == "d7"
        else d
        for d in documents
    ]
    recommender = Recommender.build(documents, people, encoder=encoder)
    store = Store("sqlite://")
    _, public = store.create_key("public", [])
    _, board = store.create_key("board", ["board"])
    with TestClient(create_app(Settings(), recommender, store), client=LOOPBACK) as client:
        for filters in ({"departments": ["Nope"]}, {"departments": ["M&A Falcon"]}):
            body = {"query": "parking", "filters": filters}
            response = client.post("/v1/recommendations", json=body, headers=bearer(public))
            assert response.status_code == 422
            assert "Falcon" not in response.json()["detail"].split("this index knows:")[1]
        body = {"query": "parking", "filters": {"departments": ["M&A Falcon"]}}
        response = client.post("/v1/recommendations", json=body, headers=bearer(board))
        assert response.status_code == 200 and response.json()["resources"][0]["id"] == "d7"
    store.close()


def test_an_unreachable_signal_is_read_as_no_signal_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = PrivacySignal("redis://127.0.0.1:1/0")
    with caplog.at_level("ERROR", logger="whoknows.serving"):
        assert [signal.version() for _ in range(3)] == [None, None, None]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cannot read the privacy signal" in errors[0]


def test_erasing_an_id_nothing_knows_is_a_404_unless_asked_to_record_it(
    service: Service,
) -> None:
    typo = service.client.delete("/v1/people/adaa", headers=service.admin)
    assert typo.status_code == 404 and "nothing was erased" in typo.json()["detail"]
    assert not service.store.mentions("adaa") and not service.store.suppressed()
    ahead = service.client.delete(
        "/v1/people/newcomer", params={"record_unknown": "true"}, headers=service.admin
    )
    assert ahead.status_code == 200
    assert ahead.json() == {
        "id": "newcomer",
        "status": "erased",
        "in_index": False,
        "deleted_records": 0,
    }
    again = service.client.delete("/v1/people/newcomer", headers=service.admin)
    assert again.status_code == 200, "an id already erased is known: erasing it is idempotent"


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"to": "0.5"}, 422, "ISO 8601"),
        ({"from": "1700000000"}, 422, "ISO 8601"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, 422, "must not be after"),
        ({"from": "2026-01-01", "to": "2026-01-01"}, 200, None),
        ({"from": "2026-01-01T09:30:00Z", "to": "2026-01-02"}, 200, None),
    ],
)
@pytest.mark.parametrize("path", ["/v1/analytics", "/v1/analytics/series", "/v1/insights/gaps"])
def test_analytics_windows_are_iso_times_and_may_be_empty(
    service: Service, path: str, params: dict[str, str], status: int, words: str | None
) -> None:
    people_of(service, service.cy)  # one query now, outside every window asked for
    response = service.client.get(path, params=params, headers=service.admin)
    assert response.status_code == status, response.text
    if words:
        assert words in response.json()["detail"]
    elif path == "/v1/analytics":
        assert response.json()["queries"] == 0


def test_the_same_feedback_again_is_200_already_recorded_and_counted_once(
    service: Service,
) -> None:
    event = helpful_on_the_first_resource(service, service.cy)
    first = service.client.post("/v1/feedback", json=event, headers=service.cy)
    assert (first.status_code, first.json()) == (201, {"status": "recorded"})
    again = service.client.post("/v1/feedback", json=event, headers=service.cy)
    assert (again.status_code, again.json()) == (200, {"status": "already_recorded"})
    rated = service.client.post(
        "/v1/feedback", json=event | {"action": "not_helpful"}, headers=service.cy
    )
    assert rated.status_code == 201
    report = service.client.get("/v1/analytics", headers=service.admin).json()
    assert report["helpful_rate"] == 0.5
