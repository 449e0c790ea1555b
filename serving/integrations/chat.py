"""What the chat integrations share: who is asking, and the answer in words.

A chat user asks as the person they are linked to (``whoknows link``), or else
as the person whose profile names their chat id (``slack_id``, ``teams_id``),
with that link's or profile's groups; anyone else asks as a caller of no group,
who sees public documents only. Answers are always shown to the asker alone:
they depend on what the asker may see.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from models.exceptions import WhoknowsError
from models.recommender import Recommender
from models.results import PersonHit, Recommendations, ResourceHit
from pipelines.store import Store
from pipelines.store.chat import chat_caller
from pipelines.store.records import person_hash
from serving.answering import answer
from serving.auth import Caller
from serving.config import Settings
from serving.errors import Unauthenticated
from serving.limits import RateLimited, RateLimiter

#: A signed request older (or newer) than this is refused.
MAX_AGE = timedelta(minutes=5)
#: How long a request is remembered to refuse its replay: as long as it could be accepted.
REMEMBER = 2 * MAX_AGE

RETRIEVERS = {"dense": "meaning", "lexical": "words"}
SIGNALS = {
    "documents": "their documents match",
    "writing": "everything they wrote matches",
    "profile": "their profile matches",
    "activity": "recently active here",
    "topics": "works on these topics",
}
ROLES = {
    "author": "Wrote",
    "accepted_answer": "Gave the accepted answer to",
    "answered": "Answered",
    "asked": "Asked",
}


class Reply(Exception):  # noqa: N818 (what to say, not an error of whoknows)
    """A sentence to show the asker instead of an answer (starting up, too many questions)."""


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """An answer to a chat user, with its handle for feedback and a link to the search page."""

    recommendation_id: str
    result: Recommendations
    link: str


async def answer_chat(
    request: Request, store: Store, platform: str, user_id: str, question: str
) -> ChatAnswer:
    """Answer a chat user's question as serving.answering answers the API.

    Raises:
        Reply: what to tell the asker instead: the index is loading, they asked
            too often, or the question cannot be answered.
    """
    recommender = ready(request)
    if recommender is None:
        raise Reply("whoknows is starting up: ask again in a few seconds.")
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.limiter
    try:
        caller = caller_of(platform, user_id, store, recommender)
        limiter.hit(caller.identity)
        # Reading the exposure may query the store: off the event loop, as the answer is.
        exposure = await run_in_threadpool(request.app.state.exposure, store)
        recommendation_id, result = await run_in_threadpool(
            answer,
            recommender,
            store,
            caller,
            question,
            limit_resources=settings.chat_limit,
            limit_people=settings.chat_limit,
            asker=caller.person,
            exposure=exposure,
            slots=request.app.state.slots,
        )
    except RateLimited as exc:
        raise Reply(f"Too many questions: ask again in {exc.retry_after} seconds.") from None
    except WhoknowsError as exc:
        raise Reply(f"whoknows could not answer: {exc}") from None
    link = f"{(settings.public_url or str(request.base_url)).rstrip('/')}/"
    return ChatAnswer(recommendation_id, result, link)


def caller_of(platform: str, user_id: str, store: Store, recommender: Recommender) -> Caller:
    """The caller a chat user asks as: linked, named by a profile, or of no group."""
    name = chat_caller(platform, user_id)
    link = store.chat_link(platform, user_id)
    if link is not None:
        return Caller(name, link.groups, False, link.person, name)
    person = recommender.person_by_chat_id(platform, user_id)
    if person is not None and store.suppressed().get(person_hash(person.id)) != "erasure":
        return Caller(name, person.groups, False, person.id, name)
    return Caller(name, (), False, None, name)


def ready(request: Request) -> Recommender | None:
    """The loaded recommender, with privacy requests applied; None while it loads."""
    recommender: Recommender | None = request.app.state.index.recommender
    if recommender is not None:
        request.app.state.privacy.refresh(recommender)
    return recommender


def remember_once(store: Store, platform: str, signature: str) -> None:
    """Refuse a signed request seen before (a replay), by every worker sharing the store.

    Raises:
        Unauthenticated: it was seen before.
    """
    digest = hashlib.sha256(f"{platform}:{signature}".encode()).hexdigest()
    if not store.first_sighting(digest, REMEMBER):
        raise Unauthenticated(f"this {platform} request was answered already (a replay)")


def resource_reason(hit: ResourceHit) -> str:
    """Why a resource was recommended, in words."""
    found = [f"{RETRIEVERS.get(n, n)} (#{rank})" for n, rank in hit.retrievers.items()]
    return "found by " + (" and ".join(found) or "the ranking")


def person_reason(hit: PersonHit) -> str:
    """Why a colleague was recommended, in words: their two strongest signals."""
    strongest = sorted(((v, k) for k, v in hit.signals.items() if v > 0), reverse=True)[:2]
    return "; ".join(SIGNALS.get(k, k) for _, k in strongest) or "their work matches"


def evidence_lines(hit: PersonHit) -> list[tuple[str, str]]:
    """Each evidence document of a colleague as (what they did, its title)."""
    return [(ROLES.get(e.role, e.role.replace("_", " ")), e.document.title) for e in hit.evidence]
