"""The Teams outgoing webhook, with signed, forged, stale and replayed messages."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pipelines.store.schema import recommendations
from serving.integrations.teams import question_of
from tests.serving.integrations.conftest import Chat, teams_headers, teams_message

WEBHOOK = "/integrations/teams/webhook"


def post(chat: Chat, body: bytes, headers: dict[str, str] | None = None) -> Any:
    signed = teams_headers(body) if headers is None else headers
    return chat.client.post(WEBHOOK, content=body, headers=signed)


def card_text(answer: dict[str, Any]) -> str:
    (attachment,) = answer["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return "\n".join(block["text"] for block in attachment["content"]["body"])


def test_a_signed_message_is_answered_with_an_adaptive_card(chat: Chat) -> None:
    response = post(chat, teams_message("who can fix the leaking roof tiles?"))
    assert response.status_code == 200, response.text
    answer = response.json()
    card = answer["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "More in whoknows",
        "url": "https://whoknows.example.org/",
    }
    shown = card_text(answer)
    assert "Fixing a leaking roof" in shown and "Bob Builder" in shown and "Why: found by" in shown
    logged = chat.store.engine.connect().execute(select(recommendations.c.caller)).all()
    assert [row.caller for row in logged] == ["teams:aad-someone"]


def test_the_teams_user_s_groups_decide_what_they_see(chat: Chat) -> None:
    question = "roof inspection checklist for gutters and flashing"
    stranger = card_text(post(chat, teams_message(question, "aad-stranger")).json())
    assert "Roof inspection checklist" not in stranger
    bob = card_text(post(chat, teams_message(question, "aad-bob")).json())
    assert "Roof inspection checklist" in bob, "Bob's profile names his Teams id and groups"
    chat.store.link_chat_user("teams", "aad-carol", "cy", ["facilities"])
    assert "Roof inspection checklist" in card_text(
        post(chat, teams_message(question, "aad-carol")).json()
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda body: teams_headers(body, base64.b64encode(b"other").decode()), "does not match"),
        (lambda body: {"Authorization": "Bearer x"}, "not a Teams request"),
        (lambda body: {}, "not a Teams request"),
    ],
)
def test_forged_and_unsigned_messages_are_refused(chat: Chat, headers: Any, reason: str) -> None:
    body = teams_message("what is our VPN policy?")
    response = post(chat, body, headers(body))
    assert response.status_code == 401 and reason in response.json()["detail"]


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_stale_message_is_refused(chat: Chat, minutes: int) -> None:
    body = teams_message("kafka lag", sent=datetime.now(UTC) + timedelta(minutes=minutes))
    response = post(chat, body)
    assert response.status_code == 401 and "5 minutes" in response.json()["detail"]


def test_a_replayed_message_is_refused(chat: Chat) -> None:
    body = teams_message("kafka consumer lag")
    assert post(chat, body).status_code == 200
    again = post(chat, body)
    assert again.status_code == 401 and "replay" in again.json()["detail"]
    assert len(chat.store.engine.connect().execute(select(recommendations.c.id)).all()) == 1


def test_mentions_and_markup_are_not_part_of_the_question() -> None:
    text = "<at>whoknows</at>&nbsp;how do I <b>rotate</b> certificates?\n"
    assert question_of(text) == "how do I rotate certificates?"
    assert question_of("<at>whoknows</at>") == ""


def test_an_empty_question_explains_itself(chat: Chat) -> None:
    answer = post(chat, teams_message("")).json()
    assert "@whoknows how do I" in answer["text"] and "attachments" not in answer
