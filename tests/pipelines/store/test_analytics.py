"""Analytics checked against numbers worked out by hand."""

from __future__ import annotations

import pytest

from pipelines.store import Store
from pipelines.store.analytics import gini
from tests.pipelines.store.data import day, log, rate

PEOPLE: dict[str, str | None] = {
    "ada": "Data",
    "bob": "Ops",
    "cy": None,
    "dee": "Data",
    "eve": "Ops",
}


@pytest.fixture
def used(store: Store) -> Store:
    """Four recommendations in January (three of them gaps) and one in February."""
    log(store, "r1", day(1, 2), "kafka consumer lag", department="Data", best=0.8,
        resources=("d1",), people=("ada", "bob"))  # fmt: skip
    log(store, "r2", day(1, 3), "kafka broker tuning", department="Ops", best=0.2,
        resources=("d2",), people=("bob", "zed"))  # fmt: skip
    log(store, "r3", day(1, 4), "roof tiles replacement", department=None, best=None,
        people=("cy", "ada"))  # fmt: skip
    log(store, "r4", day(1, 5), "Kafka lag alerts and the tiles", department="Data", best=0.9,
        resources=("d1",), people=("ada",))  # fmt: skip
    log(store, "r5", day(2, 5), "outside", department="Data", best=0.9,
        resources=("d1",), people=("eve",))  # fmt: skip
    rate(store, "r1", "resource", "d1", "click", "helpful", "helpful")
    rate(store, "r1", "person", "bob", "contacted")
    rate(store, "r2", "resource", "d2", "not_helpful")
    rate(store, "r4", "resource", "d1", "not_helpful")
    rate(store, "r5", "person", "eve", "click")
    return store


def test_analytics_of_a_window(used: Store) -> None:
    report = used.analytics(day(1, 1), day(2, 1), people=PEOPLE, gap_threshold=0.35)
    assert report.queries == 4
    # r2 (best 0.2 < 0.35), r3 (no resource), r4 (only not helpful)
    assert (report.gaps.count, report.gaps.share) == (3, 0.75)
    assert report.gaps.top_terms == [
        ("kafka", 2),
        ("tiles", 2),
        ("alerts", 1),
        ("broker", 1),
        ("lag", 1),
        ("replacement", 1),
        ("roof", 1),
        ("tuning", 1),
    ]
    assert report.gaps.examples == [
        "Kafka lag alerts and the tiles",
        "roof tiles replacement",
        "kafka broker tuning",
    ]
    assert report.click_through_rate == 0.25  # only r1
    assert report.helpful_rate == pytest.approx(1 / 3)  # one helpful (given twice), two not
    cross = report.cross_functional
    # r1 ada same, r1 bob crosses, r2 bob same, r4 ada same; r3's asker and zed unknown
    assert (cross.recommended_cross, cross.recommended_known) == (1, 4)
    assert cross.recommended_share == 0.25
    assert (cross.contacted_cross, cross.contacted_known, cross.contacted_share) == (1, 1, 1.0)
    assert report.load.top == [("ada", 3), ("bob", 2), ("cy", 1)]
    assert report.load.gini == pytest.approx(8 / 15)  # of 3, 2, 1, 0, 0
    assert report.coverage == 0.6
    assert report.to_dict()["start"] == "2025-01-01T12:00:00+00:00"


def test_a_higher_threshold_makes_more_gaps(used: Store) -> None:
    report = used.analytics(day(1, 1), day(2, 1), people=PEOPLE, gap_threshold=0.85)
    assert report.gaps.count == 4


def test_people_left_out_are_not_counted(used: Store) -> None:
    report = used.analytics(day(1, 1), day(2, 1), people={"bob": "Ops"}, gap_threshold=0.35)
    assert report.load.top == [("bob", 2)]
    assert report.coverage == 1.0
    assert report.cross_functional.recommended_known == 2


def test_an_empty_window_has_zero_shares_and_no_helpful_rate(used: Store) -> None:
    report = used.analytics(day(3, 1), day(4, 1), people=PEOPLE, gap_threshold=0.35)
    assert report.queries == 0
    assert (report.gaps.share, report.click_through_rate, report.coverage) == (0.0, 0.0, 0.0)
    assert report.helpful_rate is None
    assert report.load.gini == 0.0


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([], 0.0), ([0, 0], 0.0), ([5, 5, 5, 5], 0.0), ([0, 0, 0, 8], 0.75), ([1, 3], 0.25)],
)
def test_gini(counts: list[int], expected: float) -> None:
    assert gini(counts) == pytest.approx(expected)
