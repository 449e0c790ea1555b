"""The knowledge-gap queue: questions asked again and again that nobody answers well.

A logged recommendation is a gap when it found **no good resource** (none at
all, the best less relevant to the query than the threshold, or resources rated
not helpful with nothing rated helpful) **and no willing expert** (no person
shown who may still be counted, i.e. who has not opted out or been erased; or
the best evidence of those shown is less relevant than the threshold, or none
of them has evidence; or
people rated not helpful with nobody contacted). Gaps asking the same thing
(the same content words, whatever their order, case or stop words) are one
entry; the queue puts the most frequent first, then the most recent.

Analytics (pipelines.store.analytics) counts every question without a good
resource; this queue is narrower: what the organisation should write down, or
find someone for, first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipelines.store.analytics import made_in, terms
from pipelines.store.records import POSITIVE
from pipelines.store.schema import feedback, recommendations, recommended_items

#: How many entries the queue lists by default.
QUEUE_LENGTH = 20


@dataclass(frozen=True, slots=True)
class GapEntry:
    """Questions that asked the same thing and found neither a resource nor an expert.

    Attributes:
        query: the most recent wording.
        asked: how many times it was asked in the window.
        last_asked: when it was last asked.
        terms: the content words that make these questions one.
        departments: the askers' departments, most frequent first (unknown left out).
        best_relevance: the best resource relevance any of them found (None: none).
        best_expert_relevance: the best evidence relevance of any person shown (None: none).
        reasons: why they are gaps, e.g. ``no resource``, ``weak resources``,
            ``resources not helpful``, ``no expert``, ``weak experts``, ``experts not helpful``.
    """

    query: str
    asked: int
    last_asked: datetime
    terms: list[str]
    departments: list[str]
    best_relevance: float | None
    best_expert_relevance: float | None
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times as ISO-8601)."""
        data = asdict(self)
        data["last_asked"] = self.last_asked.isoformat()
        return data


def gap_queue(
    connection: Connection,
    start: datetime,
    end: datetime,
    *,
    people: Mapping[str, str | None],
    gap_threshold: float,
    limit: int = QUEUE_LENGTH,
) -> list[GapEntry]:
    """The most frequent gaps among recommendations made in [start, end).

    Args:
        connection: the store's connection.
        start, end: the window, by when recommendations were made.
        people: id -> department of everyone who may be counted as an expert.
        gap_threshold: a best relevance under this is not good (resources and evidence).
        limit: the most entries to return.
    """
    in_window = made_in(start, end)
    recs = connection.execute(
        select(
            recommendations.c.id,
            recommendations.c.created_at,
            recommendations.c.query,
            recommendations.c.caller_department,
            recommendations.c.best_relevance,
            recommendations.c.best_expert_relevance,
        )
        .where(in_window)
        .order_by(recommendations.c.created_at.desc(), recommendations.c.id)
    ).all()
    items: dict[str, dict[str, list[str]]] = {}
    for row in connection.execute(
        select(
            recommended_items.c.recommendation_id,
            recommended_items.c.kind,
            recommended_items.c.item_id,
        )
        .join(recommendations, recommendations.c.id == recommended_items.c.recommendation_id)
        .where(in_window)
    ):
        items.setdefault(row.recommendation_id, {}).setdefault(row.kind, []).append(row.item_id)
    actions: dict[tuple[str, str], set[str]] = {}
    for row in connection.execute(
        select(feedback.c.recommendation_id, feedback.c.item_kind, feedback.c.action)
        .join(recommendations, recommendations.c.id == feedback.c.recommendation_id)
        .where(in_window)
    ):
        actions.setdefault((row.recommendation_id, row.item_kind), set()).add(row.action)
    groups: dict[tuple[tuple[str, ...], str], list[tuple[Any, list[str]]]] = {}
    for rec in recs:
        shown = items.get(rec.id, {})
        resource_gap = _resource_gap(
            rec, shown, actions.get((rec.id, "resource"), set()), gap_threshold
        )
        if resource_gap is None:
            continue
        experts = [p for p in shown.get("person", []) if p in people]
        expert_gap = _expert_gap(
            rec, experts, actions.get((rec.id, "person"), set()), gap_threshold
        )
        if expert_gap is None:
            continue
        words = tuple(sorted(terms(rec.query)))
        key = (words, "" if words else rec.query.strip().casefold())
        groups.setdefault(key, []).append((rec, [resource_gap, expert_gap]))
    entries = [_entry(key, members) for key, members in groups.items()]
    entries.sort(key=lambda e: (-e.asked, -e.last_asked.timestamp(), e.query))
    return entries[:limit]


def _resource_gap(
    rec: Any, shown: dict[str, list[str]], done: set[str], threshold: float
) -> str | None:
    """Why the resources were not good, or None if they were."""
    if not shown.get("resource"):
        return "no resource"
    if "not_helpful" in done and not done & POSITIVE:
        return "resources not helpful"
    if rec.best_relevance is not None and rec.best_relevance < threshold:
        return "weak resources"
    return None


def _expert_gap(rec: Any, experts: list[str], done: set[str], threshold: float) -> str | None:
    """Why no willing expert was found, or None if one was."""
    if not experts:
        return "no expert"
    if "not_helpful" in done and not done & POSITIVE:
        return "experts not helpful"
    # None with people shown: none of them had evidence (a profile match at most).
    if rec.best_expert_relevance is None or rec.best_expert_relevance < threshold:
        return "weak experts"
    return None


def _entry(key: tuple[tuple[str, ...], str], members: list[tuple[Any, list[str]]]) -> GapEntry:
    latest = members[0][0]  # the rows come most recent first
    departments = Counter(r.caller_department for r, _ in members if r.caller_department)
    reasons = Counter(reason for _, why in members for reason in why)
    return GapEntry(
        query=latest.query,
        asked=len(members),
        last_asked=latest.created_at,
        terms=list(key[0]),
        departments=[d for d, _ in departments.most_common()],
        best_relevance=_best(r.best_relevance for r, _ in members),
        best_expert_relevance=_best(r.best_expert_relevance for r, _ in members),
        reasons=[r for r, _ in reasons.most_common()],
    )


def _best(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
