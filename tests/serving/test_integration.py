"""The sample, built as `make run` builds it, answers real dev questions over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def query_text(query_id: str) -> str:
    with (SAMPLE / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["id"] == query_id:
                return str(row["text"])
    raise KeyError(query_id)


@pytest.mark.parametrize(
    ("query_id", "document", "expert"),
    [
        # "Keep Alexa from responding when I'm talking in my sleep":
        # a linked question and its answerer.
        ("iot:q1164", "iot:q861", "acct:8909250"),
        # "Advantage of Hadamard gate over rotation about the X axis":
        # a linked question and its accepted answerer.
        ("quantumcomputing:q3947", "quantumcomputing:q1581", "acct:11765183"),
    ],
)
def test_judged_document_and_expert_are_in_the_top_five(
    client: TestClient, query_id: str, document: str, expert: str
) -> None:
    response = client.post("/v1/recommendations", json={"query": query_text(query_id)[:2000]})
    assert response.status_code == 200
    body = response.json()
    assert document in [r["id"] for r in body["resources"]]
    people = {p["id"]: p for p in body["people"]}
    assert expert in people
    assert people[expert]["evidence"], "an expert comes with the documents that show it"
    for resource in body["resources"]:
        assert resource["snippet"] and resource["url"].startswith("https://")


def test_people_come_from_other_departments_when_asked_broadly(client: TestClient) -> None:
    body = client.post(
        "/v1/recommendations",
        json={"query": "neural network sensor data on a microcontroller", "limit_people": 10},
    ).json()
    assert len({p["department"] for p in body["people"]}) >= 2
