"""The database unreachable: /readyz says so, recommendations keep being served,
feedback answers 503 with Retry-After; and once the database is back, it is used again.

The service runs against a throwaway PostgreSQL database; the outage is the server
refusing that database (``ALLOW_CONNECTIONS false``) with every open connection to it
terminated, which is what a client sees of a restart or failover.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from tests.faults.conftest import Service, api_key, serve, wait_until
from tests.pipelines.store.conftest import postgres_database

pytestmark = pytest.mark.slow

#: How long the service may take to notice the database is back.
RECOVERY_SECONDS = 30.0


def refuse_connections(url: URL, refuse: bool) -> None:
    """Make the server refuse (or accept again) connections to ``url``'s database,
    terminating those it has."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            allow = "false" if refuse else "true"
            connection.execute(
                text(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS {allow}')
            )
            if refuse:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": url.database},
                )
    finally:
        admin.dispose()


@contextmanager
def database() -> Iterator[tuple[URL, str]]:
    """A throwaway PostgreSQL database (URL and its string), accepting connections again
    at the end whatever the test did to it."""
    with postgres_database() as url:
        try:
            yield url, url.render_as_string(hide_password=False)
        finally:
            refuse_connections(url, False)


def readiness(service: Service) -> httpx.Response:
    """/readyz, as an orchestrator asks it: no credentials."""
    return httpx.get(f"{service.base}/readyz", timeout=30)


def says_database_unavailable(ready: httpx.Response) -> bool:
    body = ready.text.lower()
    return "database" in body and "unavailable" in body


def recommend(http: httpx.Client) -> dict[str, Any]:
    """A recommendation (asserted 200) and its body."""
    asked = http.post("/v1/recommendations", json={"query": "kafka consumer lag"})
    assert asked.status_code == 200, asked.text
    body: dict[str, Any] = asked.json()
    assert body["resources"], body
    return body


def feedback_on(body: dict[str, Any]) -> dict[str, str]:
    """A feedback event on the first resource of a recommendation."""
    return {
        "recommendation_id": body["id"],
        "item_id": body["resources"][0]["id"],
        "item_kind": "resource",
        "action": "helpful",
    }


def assert_refused_for_now(answer: httpx.Response, url: URL) -> None:
    """A 503 that says when to come back and nothing of where the database is."""
    assert answer.status_code == 503, answer.text
    assert int(answer.headers.get("retry-after", "0")) > 0, answer.headers
    assert str(url.database) not in answer.text and str(url.port) not in answer.text, answer.text


def test_an_outage_after_start_up_keeps_recommendations_and_refuses_feedback_with_503(
    tiny_index: Path, tmp_path: Path
) -> None:
    with database() as (url, database_url):
        secret = api_key(database_url)
        with serve(tiny_index, database_url, tmp_path) as service, service.client(secret) as http:
            ready = readiness(service)
            assert ready.status_code == 200 and not says_database_unavailable(ready), ready.text
            before = recommend(http)
            assert http.post("/v1/feedback", json=feedback_on(before)).status_code == 201

            refuse_connections(url, True)
            ready = readiness(service)
            # still ready: it answers what matters most, so it stays in rotation
            assert ready.status_code == 200, ready.text
            assert says_database_unavailable(ready), ready.text
            assert str(url.database) not in ready.text, ready.text
            during = recommend(http)
            assert during["index_version"] == before["index_version"]
            event = feedback_on(before) | {"action": "contacted"}
            assert_refused_for_now(http.post("/v1/feedback", json=event), url)

            refuse_connections(url, False)
            wait_until(
                lambda: not says_database_unavailable(readiness(service)),
                "/readyz saying the database is back",
                RECOVERY_SECONDS,
            )
            assert http.post("/v1/feedback", json=event).status_code == 201
            after = recommend(http)
            assert http.post("/v1/feedback", json=feedback_on(after)).status_code == 201


def test_a_database_down_at_start_up_is_used_once_it_is_back(
    tiny_index: Path, tmp_path: Path
) -> None:
    with database() as (url, database_url):
        secret = api_key(database_url)
        refuse_connections(url, True)
        with serve(tiny_index, database_url, tmp_path) as service, service.client(secret) as http:
            ready = readiness(service)
            assert ready.status_code == 200 and says_database_unavailable(ready), ready.text
            unknown = {"recommendation_id": "r", "item_id": "d1", "item_kind": "resource"}
            assert_refused_for_now(
                http.post("/v1/feedback", json=unknown | {"action": "click"}), url
            )

            refuse_connections(url, False)
            wait_until(
                lambda: not says_database_unavailable(readiness(service)),
                "/readyz saying the database is back",
                RECOVERY_SECONDS,
            )
            body = recommend(http)
            assert http.post("/v1/feedback", json=feedback_on(body)).status_code == 201
