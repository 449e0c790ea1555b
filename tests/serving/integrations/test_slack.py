"""The Slack slash command and its feedback buttons: signed, forged, stale, replayed requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from sqlalchemy import select

from pipelines.store.schema import feedback, recommendations
from serving.integrations import slack
from serving.integrations.slack import _escape
from tests.serving.integrations.conftest import SLACK_SECRET, Chat, slack_headers

COMMAND = "/integrations/slack/command"
INTERACTIONS = "/integrations/slack/interactions"


def command(text: str, user: str = "UANY", **extra: str) -> bytes:
    fields = {"command": "/whoknows", "text": text, "user_id": user, "team_id": "T1"} | extra
    return urlencode(fields).encode()


def ask(chat: Chat, text: str, user: str = "UANY") -> dict[str, Any]:
    body = command(text, user)
    response = chat.client.post(COMMAND, content=body, headers=slack_headers(body))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def texts(answer: dict[str, Any]) -> str:
    return "\n".join(
        block["text"]["text"] for block in answer.get("blocks", []) if block["type"] == "section"
    )


def buttons(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_a_signed_command_is_answered_for_the_asker_alone(chat: Chat) -> None:
    answer = ask(chat, "who can fix the leaking roof tiles?")
    assert answer["response_type"] == "ephemeral", "the answer depends on what the asker may see"
    shown = texts(answer)
    assert "*What to read*" in shown and "*Who knows*" in shown
    assert "Fixing a leaking roof" in shown and "Bob Builder" in shown
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    cards = [s for s in sections if not s.startswith(("*What to read*", "*Who knows*"))]
    assert cards and all("_Why:_ " in s for s in cards), "each resource and colleague says why"
    labels = {b["text"]["text"] for b in buttons(answer)}
    assert labels == {"Helpful", "Not helpful", "Contacted"}
    assert len(answer["blocks"]) <= 50 and all(
        len(b["text"]["text"]) <= 3000 for b in answer["blocks"] if b["type"] == "section"
    )
    logged = chat.store.engine.connect().execute(select(recommendations.c.caller)).all()
    assert [row.caller for row in logged] == ["slack:UANY"]


def test_an_unlinked_user_sees_public_documents_only(chat: Chat) -> None:
    question = "roof inspection checklist for gutters and flashing"
    public = ask(chat, question, user="ustranger")
    assert "Roof inspection checklist" not in json.dumps(public), "restricted to facilities"
    chat.store.link_chat_user("slack", "UCAROL", "cy", ["facilities"])
    linked = ask(chat, question, user="UCAROL")
    assert "Roof inspection checklist" in texts(linked)
    # Bob's profile names his Slack id and his groups.
    assert "Roof inspection checklist" in texts(ask(chat, question, user="UBOB"))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda body: slack_headers(body, secret="not-the-secret"), "signature does not match"),
        (lambda body: slack_headers(body, sent=time.time() - 6 * 60), "more than 5 minutes"),
        (lambda body: slack_headers(body, sent=time.time() + 6 * 60), "from the future"),
        (lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, "not a Slack request"),
        (
            lambda body: slack_headers(body) | {"X-Slack-Request-Timestamp": "soon"},
            "not a number",
        ),
    ],
)
def test_forged_stale_and_unsigned_commands_are_refused(
    chat: Chat, headers: Any, reason: str
) -> None:
    body = command("what is our VPN policy?")
    response = chat.client.post(COMMAND, content=body, headers=headers(body))
    assert response.status_code == 401 and reason in response.json()["detail"]
    assert not chat.store.engine.connect().execute(select(recommendations.c.id)).all()


def test_a_tampered_body_fails_the_signature(chat: Chat) -> None:
    headers = slack_headers(command("harmless"))
    response = chat.client.post(COMMAND, content=command("something else"), headers=headers)
    assert response.status_code == 401


def test_a_replayed_command_is_refused(chat: Chat) -> None:
    body = command("kafka consumer lag")
    headers = slack_headers(body)
    assert chat.client.post(COMMAND, content=body, headers=headers).status_code == 200
    again = chat.client.post(COMMAND, content=body, headers=headers)
    assert again.status_code == 401 and "replay" in again.json()["detail"]


def test_an_empty_command_explains_itself(chat: Chat) -> None:
    answer = ask(chat, "   ")
    assert answer["response_type"] == "ephemeral" and "/whoknows how do I" in answer["text"]


def test_slack_is_off_without_a_signing_secret(chat: Chat) -> None:
    chat.client.app.state.settings = chat.client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"slack_signing_secret": None}
    )
    body = command("anything")
    response = chat.client.post(COMMAND, content=body, headers=slack_headers(body))
    assert (
        response.status_code == 404 and "WHOKNOWS_SLACK_SIGNING_SECRET" in response.json()["detail"]
    )


class _Hooks(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for Slack's response URL, recording what is posted to it."""
    server = HTTPServer(("127.0.0.1", 0), _Hooks)
    _Hooks.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/actions/T1/1", _Hooks.received
    server.shutdown()
    server.server_close()


def press(chat: Chat, button: dict[str, Any], user: str, url: str) -> Any:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "response_url": url,
        "actions": [{"action_id": button["action_id"], "value": button["value"]}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return chat.client.post(INTERACTIONS, content=body, headers=slack_headers(body))


def test_a_button_press_records_feedback_and_is_confirmed(
    chat: Chat, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    answer = ask(chat, "my kafka consumer group is lagging behind", user="UADA")
    helpful = next(b for b in buttons(answer) if b["action_id"].startswith("helpful:r"))
    assert press(chat, helpful, "UADA", url).status_code == 200
    rows = chat.store.engine.connect().execute(select(feedback)).all()
    assert [(r.action, r.item_kind, r.caller) for r in rows] == [
        ("helpful", "resource", "slack:UADA")
    ]
    assert received and received[0]["response_type"] == "ephemeral"
    assert "“Helpful” recorded" in received[0]["text"]
    contacted = next(b for b in buttons(answer) if b["action_id"].startswith("contacted:p"))
    assert press(chat, contacted, "UADA", url).status_code == 200
    assert len(chat.store.engine.connect().execute(select(feedback)).all()) == 2


def test_a_press_by_someone_else_records_nothing(
    chat: Chat, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    answer = ask(chat, "my kafka consumer group is lagging behind", user="UADA")
    assert press(chat, buttons(answer)[0], "UMALLORY", url).status_code == 200
    assert not chat.store.engine.connect().execute(select(feedback)).all()
    assert "could not record" in received[0]["text"]


def test_a_forged_or_replayed_press_is_refused(chat: Chat) -> None:
    answer = ask(chat, "kafka consumer lag", user="UADA")
    payload = {"type": "block_actions", "user": {"id": "UADA"}, "actions": [buttons(answer)[0]]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    forged = chat.client.post(
        INTERACTIONS, content=body, headers=slack_headers(body, secret=SLACK_SECRET[::-1])
    )
    assert forged.status_code == 401
    headers = slack_headers(body)
    assert chat.client.post(INTERACTIONS, content=body, headers=headers).status_code == 200
    assert chat.client.post(INTERACTIONS, content=body, headers=headers).status_code == 401
    assert len(chat.store.engine.connect().execute(select(feedback)).all()) == 1


def test_mrkdwn_control_characters_are_escaped() -> None:
    assert _escape("<b> & <!channel>") == "&lt;b&gt; &amp; &lt;!channel&gt;"


def test_the_shipped_slack_manifest_points_at_the_routes(chat: Chat) -> None:
    manifest = yaml.safe_load((Path(slack.__file__).with_name("slack-manifest.yaml")).read_text())
    (slash,) = manifest["features"]["slash_commands"]
    assert slash["command"] == "/whoknows"
    for url in (slash["url"], manifest["settings"]["interactivity"]["request_url"]):
        unsigned = chat.client.post(urlsplit(url).path, content=b"x=1")
        assert unsigned.status_code == 401, f"{url} is a route that checks Slack's signature"
    assert manifest["oauth_config"]["scopes"]["bot"] == ["commands"]
