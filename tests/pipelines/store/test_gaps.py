"""The knowledge-gap queue, checked against gaps worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.exceptions import StoreError
from pipelines.store import Store
from tests.pipelines.store.data import day, log, rate

PEOPLE: dict[str, str | None] = {"ada": "Data", "bob": "Ops"}  # "gone" opted out


@pytest.fixture
def asked(store: Store) -> Store:
    """Questions about tax forms asked three times, nobody able to answer; others answered."""
    # Three wordings of one gap: weak resources and weak experts, no resource and
    # only an opted-out person, resources rated not helpful and no expert at all.
    log(store, "g1", day(1, 2), "Tax forms for contractors?", department="Ops", best=0.2,
        resources=("d1",), people=("ada",), expert=0.1)  # fmt: skip
    log(store, "g2", day(1, 3), "contractors tax forms", department="Data", best=None,
        people=("gone",), expert=0.9)  # fmt: skip
    log(store, "g3", day(1, 4), "the forms: tax, contractors", department="Ops", best=0.8,
        resources=("d2",))  # fmt: skip
    rate(store, "g3", "resource", "d2", "not_helpful")
    # A gap asked once.
    log(store, "g4", day(1, 5), "parking permits", department="Data", best=0.1,
        resources=("d3",), people=("bob",), expert=0.2)  # fmt: skip
    # Weak resources, but a willing expert with strong evidence: not a gap.
    log(store, "n1", day(1, 6), "parking permits", department="Ops", best=0.1,
        resources=("d3",), people=("bob",), expert=0.7)  # fmt: skip
    # Weak experts, but a good resource: not a gap.
    log(store, "n2", day(1, 7), "kafka lag", department="Ops", best=0.9,
        resources=("d4",), people=("ada",), expert=0.1)  # fmt: skip
    # Weak both, but the expert was contacted... and rated helpful: not a gap.
    log(store, "n3", day(1, 8), "parking permits", department="Ops", best=0.9,
        resources=("d3",), people=("bob",), expert=0.1)  # fmt: skip
    rate(store, "n3", "resource", "d3", "not_helpful", "helpful")
    # Outside the window.
    log(store, "o1", day(2, 8), "tax forms contractors", department="Ops", best=None)
    return store


def test_the_most_frequent_gap_comes_first_with_its_reasons(asked: Store) -> None:
    queue = asked.gaps(day(1, 1), day(2, 1), people=PEOPLE, gap_threshold=0.35)
    assert [(e.query, e.asked) for e in queue] == [
        ("the forms: tax, contractors", 3),
        ("parking permits", 1),
    ]
    tax = queue[0]
    assert tax.terms == ["contractors", "forms", "tax"]
    assert tax.last_asked == day(1, 4)
    assert tax.departments == ["Ops", "Data"]
    assert (tax.best_relevance, tax.best_expert_relevance) == (0.8, 0.9)
    assert set(tax.reasons) == {
        "weak resources",
        "weak experts",
        "no resource",
        "no expert",
        "resources not helpful",
    }
    assert queue[1].reasons == ["weak resources", "weak experts"]
    assert queue[1].to_dict()["last_asked"] == day(1, 5).isoformat()


def test_an_opted_out_expert_is_not_a_willing_one(asked: Store) -> None:
    everyone = PEOPLE | {"gone": "Ops"}
    queue = asked.gaps(day(1, 1), day(2, 1), people=everyone, gap_threshold=0.35)
    # g2 had a strong expert once "gone" may be counted: two of the three remain gaps.
    assert [(e.query, e.asked) for e in queue][0] == ("the forms: tax, contractors", 2)


def test_the_queue_is_cut_at_its_limit(asked: Store) -> None:
    queue = asked.gaps(day(1, 1), day(2, 1), people=PEOPLE, gap_threshold=0.35, limit=1)
    assert [e.asked for e in queue] == [3]


def test_a_series_splits_the_window_into_steps(asked: Store) -> None:
    series = asked.analytics_series(
        day(1, 1), day(1, 9), timedelta(days=3), people=PEOPLE, gap_threshold=0.35
    )
    assert [(a.start, a.end) for a in series] == [
        (day(1, 1), day(1, 4)),
        (day(1, 4), day(1, 7)),
        (day(1, 7), day(1, 9)),
    ]
    assert [a.queries for a in series] == [2, 3, 2]


def test_a_series_refuses_too_many_steps(asked: Store) -> None:
    with pytest.raises(StoreError, match="at most 366"):
        asked.analytics_series(
            day(1, 1), day(2, 1), timedelta(minutes=1), people=PEOPLE, gap_threshold=0.35
        )


def test_people_shown_without_any_evidence_are_weak_experts(store: Store) -> None:
    log(store, "p1", day(1, 2), "badge printer jams", department="Ops", best=0.1,
        resources=("d1",), people=("ada",), expert=None)  # fmt: skip
    (entry,) = store.gaps(day(1, 1), day(2, 1), people=PEOPLE, gap_threshold=0.35)
    assert entry.reasons == ["weak resources", "weak experts"]
