"""The values the store keeps and returns: keys, logged recommendations, feedback.

Plain frozen dataclasses with no database types in them, so the serving layer
and offline jobs can use them without SQLAlchemy. Times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

ItemKind = Literal["resource", "person"]
Platform = Literal["slack", "teams"]
Action = Literal["click", "helpful", "not_helpful", "contacted"]
Reason = Literal["opt_out", "erasure"]

ITEM_KINDS: frozenset[str] = frozenset(get_args(ItemKind))
ACTIONS: frozenset[str] = frozenset(get_args(Action))
REASONS: frozenset[str] = frozenset(get_args(Reason))
PLATFORMS: frozenset[str] = frozenset(get_args(Platform))
POSITIVE: frozenset[str] = frozenset({"helpful", "contacted"})
"""Actions that say an item answered the question (grade 2 in exported judgments)."""
ENGAGED: frozenset[str] = frozenset({"click", "helpful", "contacted"})
"""Actions that count as a click-through."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The same moment, timezone-aware UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def person_hash(person_id: str) -> str:
    """The sha256 hex digest under which a privacy request is kept.

    The store never keeps the id of someone who opted out or asked to be erased;
    builds hash each person's id and compare.
    """
    return hashlib.sha256(person_id.encode("utf-8")).hexdigest()


def normalise_origin(value: str) -> str:
    """A browser origin as the Origin header spells it: ``scheme://host[:port]``, lower case.

    Raises:
        ValueError: not an http(s) origin (a path, query or user part is not allowed).
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(
            f"{value!r} is not an origin: give scheme, host and port only, e.g. "
            "https://intranet.example.org or http://127.0.0.1:8080"
        )
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}[scheme]
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as shown to administrators; the secret itself is never kept.

    Attributes:
        name: unique name, chosen by the administrator (never reused).
        prefix: the first 8 characters of the secret, to recognise a key in logs.
        groups: the groups whose restricted resources the key may see.
        admin: may read analytics and administer the service.
        person: the person the key acts for, if any (for feedback and erasure).
        created_at: when it was made.
        revoked_at: when it was revoked, or None while it is valid.
        origins: the browser origins (``https://intranet.example.org``) the key may be
            used from; None: any caller. A key put in a web page is public, so it is
            restricted to the pages' origins.
    """

    name: str
    prefix: str
    groups: tuple[str, ...]
    admin: bool
    person: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    origins: tuple[str, ...] | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class ChatLink:
    """A chat user (Slack or Teams) and the person and groups they ask as.

    Attributes:
        platform: ``slack`` or ``teams``.
        user_id: the user's id on the platform (Slack ``U...``, Teams AAD object id).
        person: the person id in the index.
        groups: the groups whose restricted documents they may see.
        created_at: when the link was made.
    """

    platform: Platform
    user_id: str
    person: str
    groups: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedItem:
    """One resource or person in a logged recommendation.

    Attributes:
        kind: ``"resource"`` or ``"person"``.
        item_id: the document or person id.
        rank: 1-based position in its list.
        department: the item's department when it was recommended, if known.
    """

    kind: ItemKind
    item_id: str
    rank: int
    department: str | None = None


@dataclass(frozen=True, slots=True)
class RecommendationLog:
    """A recommendation as served, kept so that feedback can refer to it.

    Attributes:
        id: unique id, returned to the caller with the answer.
        created_at: when it was served.
        caller: who asked (key name or token subject).
        caller_person: the asker's person id, if known.
        caller_department: the asker's department, if known.
        query: the question.
        index_version: the index that answered.
        best_relevance: the best resource's relevance (cosine), None if no resource.
        items: the resources and people returned.
        best_expert_relevance: the best relevance of the recommended people's
            evidence (cosine), None if no person.
    """

    id: str
    created_at: datetime
    caller: str
    caller_person: str | None
    caller_department: str | None
    query: str
    index_version: str
    best_relevance: float | None
    items: tuple[LoggedItem, ...] = ()
    best_expert_relevance: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """What a caller did with one item of a recommendation.

    Attributes:
        recommendation_id: the logged recommendation.
        item_id: the document or person id.
        item_kind: ``"resource"`` or ``"person"``.
        action: ``click``, ``helpful``, ``not_helpful`` or ``contacted``.
        caller: who gave the feedback.
        created_at: when (now, if not given).
    """

    recommendation_id: str
    item_id: str
    item_kind: ItemKind
    action: Action
    caller: str
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What :meth:`Store.export_judgments` wrote.

    Attributes:
        directory: the folder holding queries.jsonl and the two qrels files.
        queries: recommendations with feedback, one query each.
        resource_judgments: lines of qrels_resources.tsv (header excluded).
        people_judgments: lines of qrels_people.tsv (header excluded).
    """

    directory: Path
    queries: int
    resource_judgments: int
    people_judgments: int
