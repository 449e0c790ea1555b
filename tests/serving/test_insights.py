"""Across functions over HTTP, on the fixture organisation (tests/organisation.py): the
cross-functional expert, the mentor, the silo, the fragile topic and the gap are known;
hidden documents and opted-out people stay out of every new answer."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.encoder import Encoder
from models.recommender import Recommender
from models.topics import TopicConfig, TopicModel
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests import organisation
from tests.serving.conftest import LOOPBACK, bearer


@dataclasses.dataclass
class Org:
    client: TestClient
    admin: dict[str, str]
    ada: dict[str, str]
    lee: dict[str, str]
    hr: dict[str, str]
    outsider: dict[str, str]


@pytest.fixture(scope="module")
def org_index(encoder: Encoder) -> Recommender:
    return Recommender.build(organisation.documents(), organisation.people(), encoder=encoder)


@pytest.fixture(scope="module")
def org_topics(org_index: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three topics, as the topics stage writes them (the parameters in topics.json)."""
    config = TopicConfig(count=3)
    model = TopicModel.fit(
        org_index.document_vectors(),
        [d.id for d in org_index.documents],
        config,
        fit_on=org_index.visible_documents(()),
    )
    summary = json.dumps({"config": config.to_dict()})
    return model.save(tmp_path_factory.mktemp("org") / "topics", extras={"topics.json": summary})


@pytest.fixture
def org(org_index: Recommender, org_topics: Path) -> Iterator[Org]:
    store = Store("sqlite://")
    keys = {
        "admin": store.create_key("admin", [], admin=True)[1],
        "ada": store.create_key("ada", [], person="ada")[1],
        "lee": store.create_key("lee", [], person="lee")[1],
        "hr": store.create_key("hr", ["hr"])[1],
        "outsider": store.create_key("outsider", [])[1],
    }
    settings = Settings(rate_limit=0, topics_dir=org_topics)
    app = create_app(settings, recommender=org_index, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        yield Org(client, **{name: bearer(secret) for name, secret in keys.items()})
    store.close()


def topic_of(found: dict[str, Any], document_prefix: str) -> dict[str, Any]:
    """The topic whose label speaks of the subject (each subject has distinct words)."""
    words = {
        organisation.STREAMING: "kafka",
        organisation.VAT: "vat",
        organisation.DEPLOYMENTS: "kubernetes",
    }[document_prefix]
    (topic,) = [t for t in found["topics"] if words in t["terms"]]
    return topic


def test_the_asker_is_never_recommended_and_the_other_department_is_marked(org: Org) -> None:
    query = {"query": "Kubernetes deployment stuck on readiness probes", "limit_people": 5}
    answer = org.client.post(
        "/v1/recommendations", json=query | {"cross_functional": True}, headers=org.ada
    )
    assert answer.status_code == 200, answer.text
    people = answer.json()["people"]
    assert people[0]["id"] == "olly" and people[0]["crosses_department"] is True
    assert "ada" not in {p["id"] for p in people}
    assert {p["id"]: p["crosses_department"] for p in people}.get("dan") in (None, False)


def test_the_expertise_map_finds_the_silo_and_the_fragile_topic(org: Org) -> None:
    response = org.client.get("/v1/insights/topics", headers=org.outsider)
    assert response.status_code == 200, response.text
    found = response.json()
    streaming = topic_of(found, organisation.STREAMING)
    assert streaming["silo"] == "Data" and streaming["bus_factor"] == 2
    assert not streaming["fragile"]
    vat = topic_of(found, organisation.VAT)
    assert vat["fragile"] and vat["bus_factor"] == 1 and vat["silo"] == "Finance"
    assert [e["id"] for e in vat["experts"]] == ["fay"], "asking is not expertise"
    everyone = {e["id"] for t in found["topics"] for e in t["experts"]}
    assert "otto" not in everyone, "an opted-out person is in no topic"
    assert "hana" not in everyone, "a hidden document places nobody for an outsider"
    assert found["documents"] == len(organisation.documents()) - 1
    column = found["departments"].index("Data")
    row = [t["id"] for t in found["topics"]].index(streaming["id"])
    assert found["heat"][column][row] == pytest.approx(1.0)
    assert streaming["id"] in found["silos"] and vat["id"] in found["fragile"]


def test_a_member_of_the_group_sees_the_restricted_expert(org: Org) -> None:
    found = org.client.get("/v1/insights/topics", headers=org.hr).json()
    assert "hana" in {e["id"] for t in found["topics"] for e in t["experts"]}
    assert found["documents"] == len(organisation.documents())


def test_the_learner_is_matched_with_the_mentor_across_departments(org: Org) -> None:
    response = org.client.get(
        "/v1/people/lee/matches",
        params={"goal": "learn", "cross_functional": "true"},
        headers=org.lee,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    first = body["matches"][0]
    assert first["person"]["id"] == "fay" and first["crosses_department"] is True
    assert first["reason"] and first["evidence"]
    ids = {m["person"]["id"] for m in body["matches"]}
    assert not ids & {"lee", "otto", "hana"}, "never oneself, opted out or hidden"
    back = org.client.get(
        "/v1/people/fay/matches", params={"goal": "mentor"}, headers=org.outsider
    ).json()
    assert back["matches"][0]["person"]["id"] == "lee"


def test_matches_refuse_unknown_people_and_goals(org: Org) -> None:
    assert org.client.get("/v1/people/nobody/matches", headers=org.ada).status_code == 404
    assert org.client.get("/v1/people/otto/matches", headers=org.ada).status_code == 404
    bad = org.client.get("/v1/people/lee/matches", params={"goal": "teach"}, headers=org.ada)
    assert bad.status_code == 422
    assert org.client.get("/v1/people/lee/matches").status_code == 401


def test_repeated_unanswerable_questions_head_the_gap_queue(org: Org) -> None:
    for text in (
        "Visitors: parking permits, where?",
        "parking permits for visitors",
        "visitors parking permits?",
    ):
        answer = org.client.post("/v1/recommendations", json={"query": text}, headers=org.ada)
        assert answer.status_code == 200, answer.text
    answered = {"query": "Kafka consumer lag on one partition"}
    assert org.client.post("/v1/recommendations", json=answered, headers=org.ada).status_code == 200
    assert org.client.get("/v1/insights/gaps", headers=org.ada).status_code == 403
    queue = org.client.get("/v1/insights/gaps", headers=org.admin)
    assert queue.status_code == 200, queue.text
    entries = queue.json()["entries"]
    assert entries[0]["asked"] == 3 and entries[0]["terms"] == ["parking", "permits", "visitors"]
    assert entries[0]["departments"] == ["Data"]
    assert all("kafka" not in e["terms"] for e in entries)


def test_the_analytics_series_counts_each_day(org: Org) -> None:
    org.client.post("/v1/recommendations", json={"query": "VAT invoice"}, headers=org.ada)
    series = org.client.get(
        "/v1/analytics/series", params={"step": "day"}, headers=org.admin
    ).json()
    assert len(series["points"]) == 30 and sum(p["queries"] for p in series["points"]) == 1
    assert series["points"][-1]["queries"] == 1
    too_many = org.client.get(
        "/v1/analytics/series",
        params={"step": "hour", "from": "2025-01-01"},
        headers=org.admin,
    )
    assert too_many.status_code == 422 and too_many.json()["field"] == "step"


def test_without_a_topics_directory_the_service_fits_the_topics(org_index: Recommender) -> None:
    store = Store("sqlite://")
    _, secret = store.create_key("k", [])
    with TestClient(create_app(Settings(rate_limit=0), org_index, store), client=LOOPBACK) as c:
        found = c.get("/v1/insights/topics", headers=bearer(secret)).json()
        assert sum(t["documents"] for t in found["topics"]) == found["documents"] == 12
    store.close()


def test_a_topic_model_of_another_index_is_refused_in_words(
    org_index: Recommender, tmp_path: Path
) -> None:
    other = TopicModel.fit(
        org_index.document_vectors()[:5],
        [d.id for d in org_index.documents[:5]],
        TopicConfig(count=2),
    )
    other.save(tmp_path / "topics")
    store = Store("sqlite://")
    _, secret = store.create_key("k", [])
    settings = Settings(rate_limit=0, topics_dir=tmp_path / "topics")
    with TestClient(create_app(settings, org_index, store), client=LOOPBACK) as client:
        response = client.get("/v1/insights/topics", headers=bearer(secret))
        assert response.status_code == 503
        assert "fit it again" in response.json()["detail"]
        ok = client.post("/v1/recommendations", json={"query": "VAT"}, headers=bearer(secret))
        assert ok.status_code == 200, "the rest of the service is unaffected"
    store.close()
