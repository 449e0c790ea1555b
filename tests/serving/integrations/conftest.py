"""An index with a restricted document, and helpers that sign requests as Slack and Teams do."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records
from tests.serving.conftest import LOOPBACK

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAMS_TOKEN = base64.b64encode(b"a teams outgoing webhook token").decode()
#: The roof checklist is shared with the facilities group only.
SECRET_DOCUMENT = "d8"


@dataclasses.dataclass(frozen=True)
class Chat:
    client: TestClient
    store: Store
    recommender: Recommender


@pytest.fixture(scope="module")
def restricted(encoder: Encoder) -> Recommender:
    """The tiny index, with d8 for the facilities group only, and chat ids in profiles."""
    documents, people = tiny_records()
    documents = [
        dataclasses.replace(d, allowed_groups=("facilities",)) if d.id == SECRET_DOCUMENT else d
        for d in documents
    ]
    people = [
        dataclasses.replace(p, slack_id="UBOB", teams_id="aad-bob", groups=("facilities",))
        if p.id == "bob"
        else p
        for p in people
    ]
    return Recommender.build(documents, people, encoder=encoder)


@pytest.fixture
def chat(restricted: Recommender) -> Iterator[Chat]:
    """The real app with both integrations on, a fresh store each test."""
    store = Store("sqlite://")
    settings = Settings(
        slack_signing_secret=SLACK_SECRET,
        teams_security_token=TEAMS_TOKEN,
        slack_response_url_prefix="http://127.0.0.1:",
        public_url="https://whoknows.example.org",
        rate_limit=0,
    )
    app = create_app(settings, recommender=restricted, store=store)
    with TestClient(app, client=LOOPBACK) as client:
        yield Chat(client, store, restricted)
    store.close()


def slack_headers(
    body: bytes, *, secret: str = SLACK_SECRET, sent: float | None = None
) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and v0 signature."""
    timestamp = str(int(time.time() if sent is None else sent))
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def teams_message(text: str, user: str = "aad-someone", *, sent: datetime | None = None) -> bytes:
    """A Teams outgoing-webhook message, as bytes."""
    moment = sent or datetime.now(UTC)
    message: dict[str, Any] = {
        "type": "message",
        "id": f"msg-{time.perf_counter_ns()}",
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "from": {"id": f"29:{user}", "name": "Someone", "aadObjectId": user},
        "text": f"<at>whoknows</at> {text}",
    }
    return json.dumps(message).encode()


def teams_headers(body: bytes, token: str = TEAMS_TOKEN) -> dict[str, str]:
    """The Authorization header Teams sends: HMAC of the body with the decoded token."""
    digest = hmac.new(base64.b64decode(token), body, hashlib.sha256).digest()
    return {
        "Authorization": f"HMAC {base64.b64encode(digest).decode()}",
        "Content-Type": "application/json",
    }
