"""What logged recommendations and feedback say: gaps, engagement, reach and load.

Computed over a window of recommendations (by when they were made) and only
over the people the caller lets count (everyone in the index who has not opted
out or been erased). Shares over nothing are 0.0, so check the counts beside them;
only ``helpful_rate`` is None when there are no ratings at all.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from pipelines.store.records import ENGAGED, POSITIVE
from pipelines.store.schema import feedback, recommendations, recommended_items

TOP_TERMS = 20
EXAMPLES = 10
TOP_PEOPLE = 20
_WORD = re.compile(r"[^\W_]+(?:[-'+#.][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class Gaps:
    """Questions the organisation could not answer well.

    A gap is a recommendation with no resource, or whose best resource is less
    relevant than the threshold, or whose feedback says not helpful and nothing
    positive (helpful or contacted).

    Attributes:
        count: gap recommendations.
        share: count / all recommendations.
        top_terms: the most frequent words of gap queries (stop words left out),
            each counted once per query, with the number of queries.
        examples: up to 10 gap queries, most recent first, no repeats.
    """

    count: int
    share: float
    top_terms: list[tuple[str, int]]
    examples: list[str]


@dataclass(frozen=True, slots=True)
class CrossFunctional:
    """How often recommendations and contacts cross department lines.

    Only person items whose department and the asker's department are both known
    are counted.

    Attributes:
        recommended_share: recommended_cross / recommended_known.
        recommended_cross: recommended people from another department than the asker.
        recommended_known: recommended people counted.
        contacted_share: contacted_cross / contacted_known.
        contacted_cross: contacted people from another department.
        contacted_known: contacted people counted (one per recommendation and person).
    """

    recommended_share: float
    recommended_cross: int
    recommended_known: int
    contacted_share: float
    contacted_cross: int
    contacted_known: int


@dataclass(frozen=True, slots=True)
class Load:
    """How the work of answering falls on people.

    Attributes:
        top: the 20 people recommended most, as (person id, times recommended).
        gini: Gini coefficient of times recommended over everyone counted, zeros
            included: 0 when all are recommended equally, towards 1 when a few take all.
    """

    top: list[tuple[str, int]]
    gini: float


@dataclass(frozen=True, slots=True)
class Analytics:
    """Use of the service over a window.

    Attributes:
        start, end: the window [start, end).
        queries: recommendations made.
        gaps: questions not answered well.
        click_through_rate: share of recommendations with a click, helpful or contact.
        helpful_rate: helpful / (helpful + not helpful) ratings; None without ratings.
        cross_functional: recommendations and contacts across departments.
        load: who is recommended, and how evenly.
        coverage: share of the people counted who were recommended at least once.
    """

    start: datetime
    end: datetime
    queries: int
    gaps: Gaps
    click_through_rate: float
    helpful_rate: float | None
    cross_functional: CrossFunctional
    load: Load
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times as ISO-8601)."""
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


def gini(values: list[int]) -> float:
    """The Gini coefficient of non-negative counts; 0.0 for none or all zero."""
    total = sum(values)
    n = len(values)
    if n == 0 or total == 0:
        return 0.0
    ranked = sorted(values)
    weighted = sum(i * v for i, v in enumerate(ranked, start=1))
    return 2 * weighted / (n * total) - (n + 1) / n


def made_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    """The recommendations made in [start, end), as a condition of a query."""
    return (recommendations.c.created_at >= start) & (recommendations.c.created_at < end)


def terms(text: str) -> set[str]:
    """The distinct content words of a query: lower case, no stop words, no numbers."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = (w for w in _WORD.findall(text.lower()) if len(w) > 1 and not w.isdigit())
    return {w for w in words if w not in ENGLISH_STOP_WORDS}


def compute(
    connection: Connection,
    start: datetime,
    end: datetime,
    *,
    people: Mapping[str, str | None],
    gap_threshold: float,
) -> Analytics:
    """The analytics of recommendations made in [start, end)."""
    in_window = made_in(start, end)
    recs = connection.execute(
        select(
            recommendations.c.id,
            recommendations.c.query,
            recommendations.c.caller_department,
            recommendations.c.best_relevance,
        )
        .where(in_window)
        .order_by(recommendations.c.created_at.desc(), recommendations.c.id)
    ).all()
    resources: dict[str, int] = {
        row.recommendation_id: row.n
        for row in connection.execute(
            select(recommended_items.c.recommendation_id, func.count().label("n"))
            .join(recommendations, recommendations.c.id == recommended_items.c.recommendation_id)
            .where(in_window, recommended_items.c.kind == "resource")
            .group_by(recommended_items.c.recommendation_id)
        )
    }
    done: dict[str, set[str]] = {}
    ratings: set[tuple[str, str, str, str]] = set()
    contacts: set[tuple[str, str]] = set()
    for row in connection.execute(
        select(
            feedback.c.recommendation_id,
            feedback.c.item_kind,
            feedback.c.item_id,
            feedback.c.action,
        )
        .join(recommendations, recommendations.c.id == feedback.c.recommendation_id)
        .where(in_window)
    ):
        done.setdefault(row.recommendation_id, set()).add(row.action)
        if row.action in ("helpful", "not_helpful"):
            ratings.add((row.recommendation_id, row.item_kind, row.item_id, row.action))
        if row.action == "contacted" and row.item_kind == "person":
            contacts.add((row.recommendation_id, row.item_id))
    gap_queries = [
        rec.query
        for rec in recs
        if not resources.get(rec.id)
        or (rec.best_relevance is not None and rec.best_relevance < gap_threshold)
        or ("not_helpful" in done.get(rec.id, set()) and not done[rec.id] & POSITIVE)
    ]
    helpful = sum(1 for r in ratings if r[3] == "helpful")
    caller_department = {rec.id: rec.caller_department for rec in recs}
    person_items = connection.execute(
        select(
            recommended_items.c.recommendation_id,
            recommended_items.c.item_id,
            recommended_items.c.department,
        )
        .join(recommendations, recommendations.c.id == recommended_items.c.recommendation_id)
        .where(in_window, recommended_items.c.kind == "person")
    ).all()
    times: Counter[str] = Counter()
    recommended = _Crossing()
    logged_department: dict[tuple[str, str], str | None] = {}
    for item in person_items:
        if item.item_id not in people:
            continue
        times[item.item_id] += 1
        department = people[item.item_id] or item.department
        logged_department[(item.recommendation_id, item.item_id)] = department
        recommended.add(caller_department[item.recommendation_id], department)
    contacted = _Crossing()
    for recommendation_id, person_id in contacts:
        if person_id in people:
            department = people[person_id] or logged_department.get((recommendation_id, person_id))
            contacted.add(caller_department[recommendation_id], department)
    term_counts: Counter[str] = Counter()
    for text in gap_queries:
        term_counts.update(terms(text))
    return Analytics(
        start=start,
        end=end,
        queries=len(recs),
        gaps=Gaps(
            count=len(gap_queries),
            share=_share(len(gap_queries), len(recs)),
            top_terms=sorted(term_counts.items(), key=lambda t: (-t[1], t[0]))[:TOP_TERMS],
            examples=list(dict.fromkeys(gap_queries))[:EXAMPLES],
        ),
        click_through_rate=_share(sum(1 for a in done.values() if a & ENGAGED), len(recs)),
        helpful_rate=helpful / len(ratings) if ratings else None,
        cross_functional=CrossFunctional(
            recommended_share=_share(recommended.cross, recommended.known),
            recommended_cross=recommended.cross,
            recommended_known=recommended.known,
            contacted_share=_share(contacted.cross, contacted.known),
            contacted_cross=contacted.cross,
            contacted_known=contacted.known,
        ),
        load=Load(
            top=sorted(times.items(), key=lambda t: (-t[1], t[0]))[:TOP_PEOPLE],
            gini=gini([times.get(person, 0) for person in people]),
        ),
        coverage=_share(len(times), len(people)),
    )


class _Crossing:
    """Counts of items whose department differs from the asker's, among those known."""

    def __init__(self) -> None:
        self.cross = 0
        self.known = 0

    def add(self, asker: str | None, department: str | None) -> None:
        if asker is None or department is None:
            return
        self.known += 1
        self.cross += asker != department


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
