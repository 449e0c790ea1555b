"""Microsoft Teams: an outgoing webhook answering "@whoknows how do I ..." with an Adaptive Card.

``POST /integrations/teams/webhook`` verifies the request, asks as the Teams user
(linked with ``whoknows link teams``, or named by a profile's ``teams_id``) and
answers within Teams' 5 seconds. Outgoing webhooks cannot take button presses
(only links), so feedback from Teams goes through the links to whoknows.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from models.results import Recommendations
from pipelines.store import Store
from serving.config import Settings
from serving.errors import NotConfigured, Unauthenticated
from serving.integrations.chat import (
    Reply,
    answer_chat,
    evidence_lines,
    person_reason,
    resource_reason,
)
from serving.integrations.teams_signature import TeamsVerifier

log = logging.getLogger("whoknows.serving")

router = APIRouter(prefix="/integrations/teams", tags=["integrations"], include_in_schema=False)

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
CARD = "application/vnd.microsoft.card.adaptive"
USAGE = "Ask a question after mentioning me, e.g. @whoknows how do I rotate our TLS certificates?"


def question_of(text: str) -> str:
    """The question in a Teams message: mentions and markup removed."""
    return " ".join(html.unescape(_TAG.sub(" ", _MENTION.sub(" ", text))).split())


@router.post("/webhook")
async def webhook(request: Request) -> Response:
    """A message that mentions whoknows: verified, then answered with an Adaptive Card."""
    settings: Settings = request.app.state.settings
    store: Store | None = request.app.state.late_store.open()
    if settings.teams_security_token is None:
        raise NotConfigured("Teams is not set up here: set WHOKNOWS_TEAMS_SECURITY_TOKEN")
    if store is None:
        raise Unauthenticated("the database is not open, so requests cannot be checked")
    body = await request.body()
    token = settings.teams_security_token.get_secret_value()
    message = TeamsVerifier(token, store).verify(body, request.headers.get("authorization"))
    sender = message.get("from") or {}
    user = str(sender.get("aadObjectId") or sender.get("id") or "")
    question = question_of(str(message.get("text") or ""))
    if not question:
        return _say(USAGE)
    try:
        made = await answer_chat(request, store, "teams", user, question)
    except Reply as reply:
        return _say(str(reply))
    result = made.result
    return JSONResponse(
        {
            "type": "message",
            "text": f"{len(result.resources)} resources and {len(result.people)} colleagues",
            "attachments": [{"contentType": CARD, "content": card(result, question, made.link)}],
        }
    )


def _say(text: str) -> JSONResponse:
    return JSONResponse({"type": "message", "text": text})


def card(result: Recommendations, question: str, link: str) -> dict[str, Any]:
    """An answer as an Adaptive Card: resources and colleagues, each with its reason."""
    body: list[dict[str, Any]] = [
        _block(f"What to read about “{question[:200]}”", weight="Bolder", size="Medium")
    ]
    for hit in result.resources:
        d = hit.document
        body.append(_block(f"[{_md(d.title)}]({d.url})" if d.url else _md(d.title), "Bolder"))
        facts = " · ".join(x for x in (d.type.value.replace("-", " "), d.department or "") if x)
        body.append(_block(f"{facts}: {_md(hit.snippet)}", isSubtle=True))
        body.append(_block(f"Why: {resource_reason(hit)}", size="Small"))
    if not result.resources:
        body.append(_block("No resource matches; try other words.", isSubtle=True))
    body.append(_block("Who knows", weight="Bolder", size="Medium", separator=True))
    for expert in result.people:
        p = expert.person
        facts = " · ".join(x for x in (p.title or "", p.department or "") if x)
        body.append(_block(f"**{_md(p.name)}**" + (f" · {_md(facts)}" if facts else "")))
        lines = [f"Why: {person_reason(expert)}"]
        lines += [f"- {did} “{_md(title)}”" for did, title in evidence_lines(expert)]
        body.append(_block("\n".join(lines), size="Small"))
    if not result.people:
        body.append(_block("Nobody's work matches yet.", isSubtle=True))
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "More in whoknows", "url": link}],
    }


def _block(text: str, weight: str | None = None, **style: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True, **style}
    if weight:
        block["weight"] = weight
    return block


def _md(text: str) -> str:
    """Text that Adaptive Cards' markdown shows literally."""
    return re.sub(r"([\\`*_\[\]()#+\-!>])", r"\\\1", text)
