"""Judgments mined from history: threads, links, raw files, and strictness in time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.recommender import Recommender
from models.records import AsOf, Contribution, Document
from pipelines import mining
from pipelines.cli import app
from pipelines.evaluate import evaluate, load_dataset
from pipelines.exceptions import DatasetError, PipelineError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def thread(
    doc_id: str, created: str, *answers: tuple[str, str, float], asker: str = "asker"
) -> Document:
    body = "How do I rebalance partitions?" + "".join(
        f"\n\n{'Accepted answer' if role == 'accepted_answer' else 'Answer'}:\nanswer by {who}"
        for who, role, _ in answers
    )
    return Document(
        doc_id,
        f"Question {doc_id}",
        body,
        created=created,
        authors=(asker, *(a[0] for a in answers)),
        contributions=(
            Contribution(asker, "asked", 1, created),
            *(Contribution(who, role, score, created) for who, role, score in answers),
        ),
    )


def test_a_thread_judges_its_answerers_never_its_asker() -> None:
    document = thread(
        "t1",
        "2020-01-01",
        ("acc", "accepted_answer", 1),
        ("up", "answered", 3),
        ("down", "answered", -2),
        ("asker", "answered", 5),
    )
    assert mining.thread_judgments(document) == {"acc": 2, "up": 1}


def test_without_an_accepted_answer_only_a_clear_top_answer_is_grade_two() -> None:
    clear = thread("t1", "2020-01-01", ("a", "answered", 6), ("b", "answered", 3))
    close = thread("t2", "2020-01-01", ("a", "answered", 6), ("b", "answered", 4))
    assert mining.thread_judgments(clear) == {"a": 2, "b": 1}
    assert mining.thread_judgments(close) == {"a": 1, "b": 1}


def test_the_query_is_the_question_without_any_answer() -> None:
    document = thread("t1", "2020-01-01", ("acc", "accepted_answer", 1))
    assert mining.question_text(document) == "Question t1\n\nHow do I rebalance partitions?"
    unmarked = Document(
        "t2",
        "Unmarked thread",
        "question and answer run together",
        contributions=(Contribution("x", "asked"), Contribution("y", "answered")),
    )
    assert mining.question_text(unmarked) == "Unmarked thread"
    plain = Document("p", "A report", "its text")
    assert mining.question_text(plain) == "A report\n\nits text"


def test_links_point_from_the_newer_document_to_the_older() -> None:
    old = Document("old", "Old", "text", created="2019-01-01")
    new = Document("new", "New", "text", created="2020-01-01")
    same = Document("same", "Same day", "text", created="2020-01-01")
    undated = Document("undated", "Undated", "text")
    links = [
        mining.Link("old", "new", 2),  # written either way round
        mining.Link("new", "same"),  # the same moment: neither existed before the other
        mining.Link("old", "undated"),  # no telling: both ways
        mining.Link("old", "unknown"),
    ]
    found = {q.document: q.resources for q in mining.mine([old, new, same, undated], links).queries}
    assert found == {"new": {"old": 2}, "old": {"undated": 1}, "undated": {"old": 1}}


def test_a_document_naming_another_ones_url_links_to_it() -> None:
    older = Document("a", "Guide", "text", url="https://wiki.example/guide", created="2019-01-01")
    newer = Document(
        "b", "Question", "see https://wiki.example/guide/. Thanks", created="2020-01-01"
    )
    assert list(mining.links_in_text([older, newer])) == [mining.Link("b", "a")]


def test_without_threads_the_linked_documents_writers_are_the_people() -> None:
    older = Document("a", "Cited", "text", authors=("knuth",), created="1960-01-01")
    newer = Document("b", "Citing", "text", authors=("me", "knuth"), created="1970-01-01")
    other = Document("c", "Also cited", "text", authors=("dijkstra",), created="1965-01-01")
    mined = mining.mine([older, newer, other], [mining.Link("b", "a"), mining.Link("b", "c")])
    (query,) = mined.queries
    assert query.people == {"dijkstra": 1}  # knuth wrote the query too: not a judgment of it
    assert query.as_of == "1970-01-01T00:00:00"


def test_a_cap_keeps_the_queries_with_resource_judgments_first() -> None:
    documents = [thread(f"t{i}", f"2020-01-{i + 1:02d}", ("a", "answered", 1)) for i in range(9)]
    mined = mining.mine(documents, [mining.Link("t8", "t0")], max_queries=3, seed=1)
    assert len(mined.queries) == 3
    assert mined.capped_from == 9
    assert any(q.resources == {"t0": 1} for q in mined.queries)


def test_raw_files_give_post_links_and_citations(tmp_path: Path) -> None:
    site = tmp_path / "ai"
    site.mkdir()
    (site / "PostLinks.xml").write_text(
        '<?xml version="1.0"?><postlinks>'
        '<row Id="1" PostId="118" RelatedPostId="10" LinkTypeId="1" />'
        '<row Id="2" PostId="140" RelatedPostId="36" LinkTypeId="3" />'
        "</postlinks>",
        encoding="utf-8",
    )
    (tmp_path / "cacm.all").write_text(
        ".I 7\n.T\nA title\n.X\n100\t5\t7\n7\t5\t7\n101\t4\t7\n102\t6\t7\n", encoding="utf-8"
    )
    (tmp_path / "CISI.ALL").write_text(
        ".I 3\n.T\nT\n.X\n9\t1\t3\n10\t2\t3\n11\t4\t3\n", encoding="utf-8"
    )
    assert set(mining.links_from_raw(tmp_path)) == {
        mining.Link("ai:q118", "ai:q10", 1),
        mining.Link("ai:q140", "ai:q36", 2),
        mining.Link("cacm:d7", "cacm:d100", 1),  # a citation; coupling (4, 6) left out
        mining.Link("cisi:d3", "cisi:d10", 1),  # two shared references
        mining.Link("cisi:d3", "cisi:d11", 2),  # four
    }
    with pytest.raises(PipelineError, match="is not a folder"):
        mining.links_from_raw(tmp_path / "cacm.all")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PipelineError, match="holds no PostLinks.xml"):
        mining.links_from_raw(empty)


def test_a_past_query_sees_only_older_documents_and_activity_as_it_was(
    tiny: Recommender,
) -> None:
    corpus_dates = [d.created for d in tiny.documents]
    assert all(date is None for date in corpus_dates)  # the tiny corpus is undated ...
    (kept,) = tiny.retrieve(["kafka consumer lag"], as_of=[AsOf(None, frozenset({"d2"}))])
    assert not kept.documents[[d.id for d in tiny.documents].index("d2")]  # ... its own left out
    assert "d2" not in {tiny.documents[r].id for r in kept.candidates.rows}
    (now,) = tiny.retrieve(["kafka consumer lag"])
    assert now.documents.all()


def test_activity_as_of_a_past_moment_counts_ages_from_it() -> None:
    from models.config import RecommenderConfig
    from models.evidence import ACTIVITY_HALF_LIVES, EvidenceIndex
    from models.records import Person

    documents = [
        Document(
            "a",
            "A",
            "t",
            department="D",
            created="2020-01-01",
            contributions=(
                Contribution("p", "author", None, "2020-01-01"),
                Contribution("r", "answered", 2, "2020-06-01"),  # after the moment below
            ),
        ),
        Document("b", "B", "t", department="D", authors=("q",), created="2020-12-31"),
    ]
    people = [Person("p", "P"), Person("q", "Q"), Person("r", "R")]
    index = EvidenceIndex(documents, people, RecommenderConfig().expertise.evidence)
    allowed = np.array([True, False])  # as of 2020-03-01, b did not exist
    totals = index.totals(allowed, datetime(2020, 3, 1))
    for half_life in ACTIVITY_HALF_LIVES:
        age = (datetime(2020, 3, 1) - datetime(2020, 1, 1)).days  # 60 days then
        expected = np.log1p(1.0 * 0.5 ** (age / half_life))
        got = totals.recent[half_life].toarray()[0, index.departments["D"]]
        assert got == pytest.approx(expected, rel=1e-9)
        assert totals.recent[half_life].toarray()[1].sum() == 0.0  # q had written nothing yet
        assert totals.recent[half_life].toarray()[2].sum() == 0.0  # nor had r answered
    assert totals.answers.tolist() == [0.0, 0.0, 0.0]
    assert index.made_before(datetime(2020, 3, 1)).toarray().tolist() == [
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    ]
    assert index.totals(None).answers.tolist() == [0.0, 0.0, 1.0]
    now = index.totals(None)  # today's view: a is 365 days older than the newest document
    expected_now = np.log1p(0.5 ** (365 / ACTIVITY_HALF_LIVES[-1]))
    assert now.recent[ACTIVITY_HALF_LIVES[-1]].toarray()[0, index.departments["D"]] == (
        pytest.approx(expected_now, rel=1e-9)
    )


def test_mine_judgments_writes_a_dataset_that_train_ranker_reads(tmp_path: Path) -> None:
    out = tmp_path / "mined"
    runner = CliRunner()
    result = runner.invoke(app, ["mine-judgments", str(SAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "mining.json").read_text(encoding="utf-8"))
    assert report["threads"] > 50 and report["people_judgments"] >= report["people_queries"] > 50
    assert "mined" in result.output and str(report["queries"]) in result.output.replace(",", "")
    dataset = load_dataset(out)
    assert len(dataset.as_of) == report["queries"] == len(dataset.judged())
    first = json.loads((out / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["exclude"] == [first["document"]]
    assert dataset.as_of[first["id"]].exclude == frozenset({first["document"]})
    # every judged person answered the thread and did not ask it
    documents = {
        json.loads(line)["id"]: json.loads(line)
        for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    }
    for query_id, judged in dataset.qrels["people"].items():
        contributions = documents[query_id.removeprefix("mined:")]["contributions"]
        answerers = {c["person"] for c in contributions if c["role"] != "asked"}
        askers = {c["person"] for c in contributions if c["role"] == "asked"}
        assert set(judged) <= answerers - askers
    rankers = tmp_path / "rankers"
    result = runner.invoke(app, ["train-ranker", str(out), "--out", str(rankers)])
    assert result.exit_code == 0, result.output
    people = json.loads((rankers / "people.json").read_text(encoding="utf-8"))
    assert {"recent_votes", "acceptance"} <= set(people["weights"])


def test_evaluate_refuses_mined_judgments(tmp_path: Path, tiny: Recommender) -> None:
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"id": "q", "text": "kafka", "as_of": "2020-01-01", "exclude": ["d2"]}) + "\n"
    )
    (tmp_path / "qrels_people.tsv").write_text("query_id\tperson\tgrade\nq\tada\t1\n")
    dataset = load_dataset(tmp_path, tasks=("people",))
    assert dataset.as_of["q"] == AsOf(datetime(2020, 1, 1), frozenset({"d2"}))
    with pytest.raises(DatasetError, match="mined judgments"):
        evaluate(tiny, dataset)


def test_a_bad_as_of_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text(json.dumps({"id": "q", "text": "x", "as_of": "soon"}))
    (tmp_path / "qrels_people.tsv").write_text("query_id\tperson\tgrade\n")
    with pytest.raises(DatasetError, match="as_of 'soon' is not an ISO-8601 date"):
        load_dataset(tmp_path, tasks=("people",))


def test_build_fits_its_rankers_on_its_own_history(tmp_path: Path, cache_dir: Path) -> None:
    from models.ranker import default_ranker

    params = tmp_path / "params.yaml"
    params.write_text("mining:\n  rankers_from_history: true\n  min_judgments: 20\n")
    out = tmp_path / "index"
    documents, people = SAMPLE / "documents.jsonl", SAMPLE / "people.jsonl"
    command = ["build", "-d", str(documents), "-p", str(people), "--cache-dir", str(cache_dir)]
    built = CliRunner().invoke(app, [*command, "--out", str(out), "--params", str(params)])
    assert built.exit_code == 0, built.output
    how = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert "rankers from history" in built.output and how["mined"]["people_queries"] >= 20
    assert "people" in how["fitted"]
    people_ranker = json.loads((out / "ranker-people.json").read_text(encoding="utf-8"))
    assert people_ranker["info"]["trained_on"] == "mined history"
    assert people_ranker["weights"] != default_ranker("people").to_dict()["weights"]
    # too few mined queries of a kind: that ranker stays the shipped one, and says why
    params.write_text("mining:\n  rankers_from_history: true\n  min_judgments: 100000\n")
    again = tmp_path / "again"
    built = CliRunner().invoke(app, [*command, "--out", str(again), "--params", str(params)])
    assert built.exit_code == 0, built.output
    how = json.loads((again / "history.json").read_text(encoding="utf-8"))
    assert how["fitted"] == [] and "fewer than 100000" in how["kept"]["people"]
    shipped = json.loads((again / "ranker-people.json").read_text(encoding="utf-8"))
    assert shipped["weights"] == default_ranker("people").to_dict()["weights"]
