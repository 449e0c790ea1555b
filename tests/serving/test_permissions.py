"""Permission trimming: nothing a caller may not see is returned, named as evidence or counted.

The randomized test restricts a random 40% of the sample's documents to random
groups, gives keys random group sets, and asks many random questions with
random limits and filters, checking every answer and what the store logged.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.encoder import Encoder
from models.recommender import Recommender
from models.records import Document
from pipelines import ingest
from pipelines.store import Store
from pipelines.store.schema import recommended_items
from serving.app import create_app
from serving.config import Settings
from tests.conftest import SAMPLE, tiny_records
from tests.serving.conftest import LOOPBACK, bearer

GROUPS = ("finance", "hr", "engineering", "legal")
#: Random (question, caller, limits, filters) combinations the randomized test asks.
RANDOM_QUERIES = 300
SEED = 20261201


@dataclasses.dataclass(frozen=True)
class World:
    """A served index with restricted documents, and keys of different groups."""

    client: TestClient
    store: Store
    recommender: Recommender
    keys: dict[tuple[str, ...], str]  # groups -> secret
    restricted: dict[str, frozenset[str]]  # document id -> allowed groups


def visible(document_groups: frozenset[str] | None, caller: tuple[str, ...]) -> bool:
    return not document_groups or not document_groups.isdisjoint(caller)


@pytest.fixture(scope="module")
def world(encoder: Encoder) -> Iterator[World]:
    rng = random.Random(SEED)
    result = ingest.run([SAMPLE / "documents.jsonl"], [SAMPLE / "people.jsonl"])
    documents: list[Document] = []
    restricted: dict[str, frozenset[str]] = {}
    for document in result.documents:
        if rng.random() < 0.4:
            groups = tuple(sorted(rng.sample(GROUPS, rng.choice((1, 1, 2)))))
            document = dataclasses.replace(document, allowed_groups=groups)
            restricted[document.id] = frozenset(groups)
        documents.append(document)
    recommender = Recommender.build(documents, result.people, encoder=encoder)
    store = Store("sqlite://")
    keys = {}
    for groups in [(), ("finance",), ("hr",), ("engineering", "legal"), ("finance", "hr")]:
        _, secret = store.create_key("caller-" + "-".join(groups or ("public",)), groups)
        keys[groups] = secret
    app = create_app(Settings(rate_limit=0), recommender=recommender, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        yield World(client, store, recommender, keys, restricted)
    store.close()


def _questions() -> list[str]:
    lines = (SAMPLE / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    # Titles and first sentences: the short questions people type.
    return [text.split("\n", 1)[0][:300] for text in texts]


def test_nothing_restricted_is_returned_named_or_counted(world: World) -> None:
    rng = random.Random(SEED + 1)
    questions = _questions()
    departments = world.recommender.departments
    returned_restricted = 0  # restricted documents returned to callers allowed to see them
    for _ in range(RANDOM_QUERIES):
        groups = rng.choice(list(world.keys))
        body: dict[str, Any] = {
            "query": rng.choice(questions),
            "limit_resources": rng.randint(1, 20),
            "limit_people": rng.randint(1, 10),
        }
        if rng.random() < 0.25:
            body["filters"] = {"departments": [rng.choice(departments)]}
        response = world.client.post(
            "/v1/recommendations",
            json=body,
            headers=bearer(world.keys[groups]),
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        for resource in answer["resources"]:
            assert visible(world.restricted.get(resource["id"]), groups), (groups, resource["id"])
            returned_restricted += resource["id"] in world.restricted
        # Trimming happens before the cut-off: a caller still gets full lists.
        assert len(answer["resources"]) == body["limit_resources"], body
        for person in answer["people"]:
            for evidence in person["evidence"]:
                assert visible(world.restricted.get(evidence["id"]), groups), (groups, evidence)
        logged = world.store.engine.connect()
        with logged:
            rows = logged.execute(
                select(recommended_items.c.item_id).where(
                    recommended_items.c.recommendation_id == answer["id"],
                    recommended_items.c.kind == "resource",
                )
            ).all()
        assert {row.item_id for row in rows} == {r["id"] for r in answer["resources"]}
    assert returned_restricted > 0, "the test must also show restricted documents reaching members"


def test_a_hidden_resource_is_exactly_as_missing(world: World) -> None:
    document_id, allowed = next(iter(world.restricted.items()))
    outsider = next(k for k in world.keys if not visible(allowed, k))
    member = next((k for k in world.keys if visible(allowed, k)), None)
    headers = bearer(world.keys[outsider])
    hidden = world.client.get(f"/v1/resources/{document_id}", headers=headers)
    missing = world.client.get("/v1/resources/no-such-document", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace(
        "no-such-document", document_id
    )
    if member is not None:
        headers = bearer(world.keys[member])
        assert world.client.get(f"/v1/resources/{document_id}", headers=headers).status_code == 200


def test_a_profile_lists_exactly_the_documents_the_caller_may_see(world: World) -> None:
    known = {p.id for p in world.recommender.people}
    contributed: dict[str, set[str]] = {}
    for document in world.recommender.documents:
        for contribution in document.roles():
            contributed.setdefault(contribution.person, set()).add(document.id)

    def seen_by(person: str, groups: tuple[str, ...]) -> set[str]:
        return {d for d in contributed[person] if visible(world.restricted.get(d), groups)}

    # A person whose whole record fits a profile (10 documents) and whom the callers
    # see most differently: each caller's list is then the whole of what it may see.
    person = max(
        (p for p, documents in contributed.items() if p in known and len(documents) <= 10),
        key=lambda p: (len({frozenset(seen_by(p, g)) for g in world.keys}), -len(contributed[p])),
    )
    assert len({frozenset(seen_by(person, g)) for g in world.keys}) >= 3, "too alike to tell"
    for groups, secret in world.keys.items():
        response = world.client.get(f"/v1/people/{person}", headers=bearer(secret))
        assert response.status_code == 200
        shown = [d["id"] for d in response.json()["documents"]]
        assert len(shown) == len(set(shown)) and set(shown) == seen_by(person, groups), groups


def test_no_expert_is_revealed_through_a_restricted_document(encoder: Encoder) -> None:
    # Cy has no profile text: all that ties him to Kafka are two documents, both
    # restricted to the data team here.
    documents, people = tiny_records()
    documents = [
        dataclasses.replace(d, allowed_groups=("data",)) if "cy" in d.authors else d
        for d in documents
    ]
    recommender = Recommender.build(documents, people, encoder=encoder)
    store = Store("sqlite://")
    _, public = store.create_key("public", [])
    _, data = store.create_key("data-team", ["data"])
    app = create_app(Settings(rate_limit=0), recommender=recommender, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        for query in ("kafka consumer lag", "onboarding course for data engineers"):
            body = {"query": query, "limit_people": 4}
            seen = {}
            for name, secret in (("public", public), ("data", data)):
                response = client.post("/v1/recommendations", json=body, headers=bearer(secret))
                assert response.status_code == 200
                seen[name] = {p["id"] for p in response.json()["people"]}
            assert "cy" not in seen["public"], query
            assert "cy" in seen["data"], "with the documents visible, the evidence counts"
    store.close()
