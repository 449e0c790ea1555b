"""Slack: the /whoknows slash command, and the buttons that record feedback.

``POST /integrations/slack/command`` answers ``/whoknows how do I ...`` with Block
Kit blocks, shown to the asker alone (the answer depends on what they may see):
resources and colleagues, each with its reason, and buttons. A button press
comes to ``POST /integrations/slack/interactions`` and is recorded as feedback
on that answer, from that user; the confirmation is posted to the press's
response URL. Both verify Slack's signature before reading anything.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from models.exceptions import WhoknowsError
from models.results import Recommendations
from pipelines.store import FeedbackEvent, Store
from pipelines.store.chat import chat_caller
from pipelines.store.records import ACTIONS, ITEM_KINDS
from serving.config import Settings
from serving.errors import NotConfigured, Unauthenticated
from serving.integrations.chat import (
    Reply,
    answer_chat,
    evidence_lines,
    person_reason,
    resource_reason,
)
from serving.integrations.slack_signature import SlackVerifier

log = logging.getLogger("whoknows.serving")

router = APIRouter(prefix="/integrations/slack", tags=["integrations"], include_in_schema=False)

LABELS = {"helpful": "Helpful", "not_helpful": "Not helpful", "contacted": "Contacted"}
USAGE = "Ask a question after the command, e.g. `/whoknows how do I rotate our TLS certificates?`"
#: Slack allows at most this many characters in a section's text.
SECTION_CHARS = 3000


def _verified(request: Request, body: bytes) -> Store:
    """The store, once the request is known to be Slack's, and new.

    Raises:
        NotConfigured: no signing secret is set (404).
        Unauthenticated: the request is not Slack's, is stale, or was seen (401).
    """
    settings: Settings = request.app.state.settings
    store: Store | None = request.app.state.late_store.open()
    if settings.slack_signing_secret is None:
        raise NotConfigured("Slack is not set up here: set WHOKNOWS_SLACK_SIGNING_SECRET")
    if store is None:
        raise Unauthenticated("the database is not open, so requests cannot be checked")
    verifier = SlackVerifier(settings.slack_signing_secret.get_secret_value(), store)
    verifier.verify(
        body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"),
    )
    return store


def _say(text: str) -> JSONResponse:
    """A message only the asker sees."""
    return JSONResponse({"response_type": "ephemeral", "text": text})


@router.post("/command")
async def command(request: Request) -> Response:
    """A slash command: verified, then answered for the asker alone within Slack's 3 s."""
    body = await request.body()
    store = _verified(request, body)
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    question, user = form.get("text", "").strip(), form.get("user_id", "")
    if not user:
        return _say("Slack did not say who is asking (no user_id).")
    if not question:
        return _say(USAGE)
    try:
        made = await answer_chat(request, store, "slack", user, question)
    except Reply as reply:
        return _say(str(reply))
    return JSONResponse(blocks(made.recommendation_id, made.result, question, made.link))


@router.post("/interactions")
async def interactions(request: Request, tasks: BackgroundTasks) -> Response:
    """A button press on an answer: verified, then recorded as that user's feedback."""
    body = await request.body()
    store = _verified(request, body)
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    try:
        payload = json.loads(form.get("payload", ""))
        user = str(payload["user"]["id"])
        pressed = payload["actions"][0]
        action = str(pressed["action_id"]).split(":", 1)[0]
        value = json.loads(pressed["value"])
        event = FeedbackEvent(
            recommendation_id=str(value["r"]),
            item_id=str(value["i"]),
            item_kind=value["k"],
            action=action,  # type: ignore[arg-type]  # checked below and by the store
            caller=chat_caller("slack", user),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return JSONResponse({"detail": "not a whoknows button press"}, status_code=400)
    if action not in ACTIONS or event.item_kind not in ITEM_KINDS:
        return JSONResponse({"detail": f"unknown action {action!r}"}, status_code=400)
    settings: Settings = request.app.state.settings
    try:
        await run_in_threadpool(store.add_feedback, event)
        text = f"Thank you: “{LABELS.get(action, action)}” recorded for {value.get('t', 'it')}."
    except WhoknowsError as exc:
        text = f"whoknows could not record that: {exc}"
    url = str(payload.get("response_url") or "")
    if url.startswith(settings.slack_response_url_prefix):
        tasks.add_task(_confirm, url, text)
    elif url:
        log.warning(
            "a Slack response URL outside %s was ignored", settings.slack_response_url_prefix
        )
    return Response(status_code=200)


async def _confirm(url: str, text: str) -> None:
    """Tell the user their press was recorded (a message only they see)."""
    message = {"response_type": "ephemeral", "replace_original": False, "text": text}
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            (await client.post(url, json=message)).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("could not confirm a Slack button press: %s", exc)


def blocks(
    recommendation_id: str, result: Recommendations, question: str, link: str
) -> dict[str, Any]:
    """An answer as Block Kit: resources and colleagues, each with its reason and buttons."""
    out: list[dict[str, Any]] = [_text(f"*What to read* about _{_escape(question[:200])}_")]
    for i, hit in enumerate(result.resources):
        d = hit.document
        title = f"<{d.url}|{_escape(d.title)}>" if d.url else _escape(d.title)
        facts = " · ".join(x for x in (d.type.value.replace("-", " "), d.department or "") if x)
        why = resource_reason(hit)
        out.append(_text(f"*{title}*\n{_escape(facts)}\n>{_escape(hit.snippet)}\n_Why:_ {why}"))
        out.append(_buttons(f"r{i}", recommendation_id, d.id, "resource", d.title, False))
    if not result.resources:
        out.append(_text("_No resource matches; try other words._"))
    out.append({"type": "divider"})
    out.append(_text("*Who knows*"))
    for i, expert in enumerate(result.people):
        p = expert.person
        facts = " · ".join(x for x in (p.title or "", p.department or "") if x)
        lines = [f"*{_escape(p.name)}*" + (f" · {_escape(facts)}" if facts else "")]
        lines.append(f"_Why:_ {person_reason(expert)}")
        lines += [f"• {did} “{_escape(title)}”" for did, title in evidence_lines(expert)]
        out.append(_text("\n".join(lines)))
        out.append(_buttons(f"p{i}", recommendation_id, p.id, "person", p.name, True))
    if not result.people:
        out.append(_text("_Nobody's work matches yet._"))
    more = {"type": "mrkdwn", "text": f"<{link}|More in whoknows>"}
    out.append({"type": "context", "elements": [more]})
    summary = (
        f"{len(result.resources)} resources and {len(result.people)} colleagues "
        f"for “{question[:100]}”"
    )
    return {"response_type": "ephemeral", "text": summary, "blocks": out}


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:SECTION_CHARS]}}


def _buttons(
    block: str, recommendation_id: str, item_id: str, kind: str, name: str, contact: bool
) -> dict[str, Any]:
    actions = ["helpful", "not_helpful"] + (["contacted"] if contact else [])
    value = json.dumps({"r": recommendation_id, "i": item_id, "k": kind, "t": name[:80]})
    return {
        "type": "actions",
        "block_id": block,
        "elements": [
            {
                "type": "button",
                "action_id": f"{action}:{block}",
                "text": {"type": "plain_text", "text": LABELS[action]},
                "value": value,
            }
            for action in actions
        ],
    }


def _escape(text: str) -> str:
    """Text as Slack mrkdwn shows it literally (&, < and > are its control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
