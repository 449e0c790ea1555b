"""Feedback exported as queries and graded qrels that `whoknows evaluate` reads."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.evaluate import read_qrels
from pipelines.store import Store
from tests.pipelines.store.data import day, log, rate


def _feedback(store: Store) -> None:
    log(store, "r1", day(1, 2), "kafka lag", department="Data", best=0.8,
        resources=("d1", "d2"), people=("ada", "bob"))  # fmt: skip
    log(store, "r2", day(1, 3), "roof tiles", department="Ops", best=0.5, resources=("d1",))
    log(store, "r3", day(1, 4), "no feedback", department="Ops", best=0.5, resources=("d1",))
    log(store, "r4", day(2, 5), "after the window", department=None, best=0.9, resources=("d1",))
    log(store, "r5", day(1, 6), "only an opted-out person", department=None, best=0.9,
        people=("cy",))  # fmt: skip
    rate(store, "r1", "resource", "d1", "click", "not_helpful")
    rate(store, "r1", "resource", "d2", "not_helpful", "helpful")
    rate(store, "r1", "person", "ada", "contacted")
    rate(store, "r1", "person", "bob", "click")
    rate(store, "r2", "resource", "d1", "not_helpful")
    rate(store, "r4", "resource", "d1", "helpful")
    rate(store, "r5", "person", "cy", "helpful")
    store.suppress("cy", "opt_out")


def test_judgments_are_graded_per_recommendation_and_item(store: Store, tmp_path: Path) -> None:
    _feedback(store)
    out = tmp_path / "judgments"
    summary = store.export_judgments(out, start=day(1, 1), end=day(2, 1))
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert queries == [{"id": "r1", "text": "kafka lag"}, {"id": "r2", "text": "roof tiles"}]
    assert (out / "qrels_resources.tsv").read_text() == (
        "query_id\tdoc_id\tgrade\nr1\td1\t1\nr1\td2\t2\nr2\td1\t0\n"
    )
    assert (out / "qrels_people.tsv").read_text() == (
        "query_id\tperson_id\tgrade\nr1\tada\t2\nr1\tbob\t1\n"
    )
    assert (summary.queries, summary.resource_judgments, summary.people_judgments) == (2, 3, 2)
    assert read_qrels(out / "qrels_resources.tsv") == {"r1": {"d1": 1, "d2": 2}, "r2": {"d1": 0}}
    assert sorted(p.name for p in out.iterdir()) == [
        "qrels_people.tsv",
        "qrels_resources.tsv",
        "queries.jsonl",
    ]  # no temporary files left behind


def test_an_export_without_a_window_takes_everything_and_replaces_the_last(
    store: Store, tmp_path: Path
) -> None:
    _feedback(store)
    out = tmp_path / "judgments"
    store.export_judgments(out, end=day(1, 3))
    assert store.export_judgments(out).queries == 3
    assert read_qrels(out / "qrels_resources.tsv")["r4"] == {"d1": 2}
    assert "r4" in (out / "queries.jsonl").read_text()


def test_an_export_with_no_feedback_writes_headers_only(store: Store, tmp_path: Path) -> None:
    summary = store.export_judgments(tmp_path / "empty")
    assert summary.queries == 0
    assert (tmp_path / "empty" / "qrels_people.tsv").read_text() == "query_id\tperson_id\tgrade\n"
    assert (tmp_path / "empty" / "queries.jsonl").read_text() == ""
