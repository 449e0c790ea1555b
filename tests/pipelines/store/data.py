"""Hand-made recommendations and feedback for the export and analytics tests."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.store import FeedbackEvent, LoggedItem, RecommendationLog, Store
from pipelines.store.records import Action, ItemKind


def day(month: int, d: int) -> datetime:
    """Noon UTC on a day of 2025."""
    return datetime(2025, month, d, 12, tzinfo=UTC)


def log(
    store: Store,
    rec_id: str,
    when: datetime,
    query: str,
    *,
    department: str | None,
    best: float | None,
    resources: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
    expert: float | None = None,
) -> None:
    """Log one recommendation of these resources and people (``expert``: the best
    relevance of the people's evidence)."""
    items = tuple(LoggedItem("resource", r, i) for i, r in enumerate(resources, 1)) + tuple(
        LoggedItem("person", p, i) for i, p in enumerate(people, 1)
    )
    store.log_recommendation(
        RecommendationLog(rec_id, when, "key:t", None, department, query, "v1", best, items, expert)
    )


def rate(store: Store, rec_id: str, kind: ItemKind, item: str, *actions: Action) -> None:
    """Give feedback on one item, the actions one after the other."""
    for n, action in enumerate(actions):
        when = day(1, 20).replace(minute=n)
        store.add_feedback(FeedbackEvent(rec_id, item, kind, action, "key:t", when))
