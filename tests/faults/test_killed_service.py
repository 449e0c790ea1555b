"""kill -9 of the service right after it acknowledged feedback: on restart, every
acknowledged event is in the database, on SQLite and on PostgreSQL.

Four clients send feedback on recommendations the service made; the moment the
fortieth answer 201 arrives, the process is killed (requests still in flight may be
lost: they were never acknowledged). The database is then opened afresh.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from pipelines.store import Store
from pipelines.store.schema import feedback
from tests.faults.conftest import WAIT_SECONDS, api_key, serve
from tests.pipelines.store.conftest import postgres_database

pytestmark = pytest.mark.slow

QUESTIONS = (
    "kafka consumer lag",
    "roof tiles after a storm",
    "spark executors out of memory",
    "boiler maintenance",
    "onboarding for data engineers",
    "where do visitors park",
)
ACTIONS = ("click", "helpful", "not_helpful", "contacted")
RECOMMENDATIONS = 80
ACKNOWLEDGED = 40
CLIENTS = 4
KEY = "fault-tests"


@dataclass(frozen=True)
class Event:
    """One feedback event, as sent to POST /v1/feedback."""

    recommendation_id: str
    item_id: str
    item_kind: str
    action: str


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database on each engine: a SQLite file, a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'whoknows.db'}"
        return
    with postgres_database() as url:
        yield url.render_as_string(hide_password=False)


def recommended(http: httpx.Client, number: int) -> Event:
    """Ask for a recommendation; the feedback event on one of its items."""
    answer = http.post("/v1/recommendations", json={"query": QUESTIONS[number % len(QUESTIONS)]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    kind, items = ("person", body["people"]) if number % 3 == 0 else ("resource", body["resources"])
    assert items, body
    return Event(body["id"], items[number % len(items)]["id"], kind, ACTIONS[number % len(ACTIONS)])


def test_every_acknowledged_feedback_survives_a_kill_9_of_the_service(
    database_url: str, tiny_index: Path, tmp_path: Path
) -> None:
    secret = api_key(database_url, KEY)
    acknowledged: list[Event] = []
    refused: list[str] = []
    enough = threading.Event()
    lock = threading.Lock()
    with serve(tiny_index, database_url, tmp_path) as service:
        with service.client(secret) as http:
            events = [recommended(http, number) for number in range(RECOMMENDATIONS)]

        def send(mine: list[Event]) -> None:
            with service.client(secret) as client:
                for event in mine:
                    try:
                        answer = client.post("/v1/feedback", json=asdict(event))
                    except httpx.TransportError:
                        return  # the service is gone
                    with lock:
                        if answer.status_code in (200, 201):
                            acknowledged.append(event)
                            if len(acknowledged) >= ACKNOWLEDGED:
                                enough.set()
                        else:
                            refused.append(f"{answer.status_code} {answer.text}")
            enough.set()  # all sent: kill anyway

        clients = [
            threading.Thread(target=send, args=(events[i::CLIENTS],)) for i in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        assert enough.wait(WAIT_SECONDS), "no feedback was acknowledged"
        service.kill()
        with lock:
            before_kill = list(acknowledged)
        for client in clients:
            client.join(timeout=WAIT_SECONDS)
        assert service.process.returncode == -signal.SIGKILL
    assert not refused, refused
    assert len(before_kill) >= ACKNOWLEDGED
    with Store(database_url) as store, store.engine.connect() as connection:
        rows = connection.execute(
            select(
                feedback.c.recommendation_id,
                feedback.c.item_id,
                feedback.c.item_kind,
                feedback.c.action,
                feedback.c.caller,
            )
        ).all()
    stored = {(Event(*row[:4]), row[4]) for row in rows}
    lost = [event for event in before_kill if (event, KEY) not in stored]
    assert not lost, f"{len(lost)} of {len(before_kill)} acknowledged events lost: {lost}"
