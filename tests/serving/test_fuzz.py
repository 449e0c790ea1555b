"""No request body, however odd, makes the service answer 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)
queries = st.text(max_size=2100) | st.sampled_from(
    ["", " ", "\x00", "\ud800", "kafka lag", "x" * 2000]
)
limits = st.integers(-5, 60) | json_values
filters = (
    st.fixed_dictionaries(
        {},
        optional={
            "departments": st.lists(
                st.sampled_from(["Data", "Finance", "nope", ""]) | st.text(max_size=5), max_size=3
            ),
            "types": st.lists(
                st.sampled_from(["wiki", "course", "memo"]) | json_values, max_size=3
            ),
        },
    )
    | json_values
)
bodies = (
    st.fixed_dictionaries(
        {"query": queries},
        optional={
            "limit_resources": limits,
            "limit_people": limits,
            "filters": filters,
            "extra": json_values,
        },
    )
    | json_values
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_recommendations_never_answer_5xx(tiny_client: TestClient, body: Any) -> None:
    # json.dumps escapes lone surrogates (\ud800), which the server must then cope with.
    raw = json.dumps(body).encode()
    response = tiny_client.post(
        "/v1/recommendations", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 422), (body, response.text)
    assert "detail" in response.json() or "resources" in response.json()


@settings(max_examples=60, deadline=None)
@given(identifier=st.text(min_size=1, max_size=40).filter(lambda s: s.strip("/") != ""))
def test_lookups_never_answer_5xx(tiny_client: TestClient, identifier: str) -> None:
    for kind in ("resources", "people"):
        response = tiny_client.get(f"/v1/{kind}/{quote(identifier, safe='/:')}")
        assert response.status_code in (200, 404, 405), (identifier, response.text)
