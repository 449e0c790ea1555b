"""The mentor-matching evaluation: learners from the dumps, Recall@10 against the reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines import ingest, mentoring
from pipelines.cli.mentoring import evaluate_mentoring
from pipelines.exceptions import DatasetError


def test_recall_and_hit_rate_at_10_by_hand() -> None:
    truth = {"ana": {"m1", "m2"}, "bo": {"m3"}, "cy": {"m4", "m5", "m6", "m7"}}
    rankings = {
        "ana": ["m1", "x1", "x2"],  # 1 of 2 answerers: recall 1/2
        "bo": [f"x{i}" for i in range(10)] + ["m3"],  # m3 is 11th: recall 0
        "cy": ["m4", "m5", "m6"],  # 3 of 4: recall 3/4
    }
    score = mentoring.score(rankings, truth)
    assert score.recall == pytest.approx((1 / 2 + 0 + 3 / 4) / 3)
    assert score.hit_rate == pytest.approx(2 / 3)
    assert score.per_learner == pytest.approx({"ana": 0.5, "bo": 0.0, "cy": 0.75})
    assert mentoring.score({}, truth).recall == 0.0, "a learner without a list scores 0"


def test_evaluate_compares_whoknows_with_the_reference() -> None:
    learners = mentoring.Learners(truth={"ana": {"m1", "m2"}, "bo": {"m3"}}, questions={})
    systems = {
        mentoring.WHOKNOWS: lambda learner: ["m1", "m2"] if learner == "ana" else ["m3"],
        mentoring.REFERENCE: lambda learner: ["m1", "x"] if learner == "ana" else ["x"],
    }
    evaluation = mentoring.evaluate(systems, learners)
    assert evaluation.learners == 2
    assert evaluation.scores["whoknows"].recall == pytest.approx(1.0)
    assert evaluation.scores["reference"].recall == pytest.approx(0.25)
    assert evaluation.gain == pytest.approx(1.0 / 0.25 - 1.0)
    low, high = evaluation.interval
    assert low <= evaluation.gain <= high
    table = mentoring.markdown_table(evaluation)
    assert "| whoknows | 1.000 | 1.000 |" in table and "2 learners" in table


def test_learners_asked_at_least_two_judged_questions_and_exist() -> None:
    askers = {"q1": "ana", "q2": "ana", "q3": "bo", "q4": "cy", "q5": "cy", "q6": "gone"}
    qrels = {
        "q1": {"m1": 2},
        "q2": {"m2": 1, "ana": 1, "m0": 0},  # never their own answerer; grade 0 is not one
        "q3": {"m3": 2},
        "q4": {"m4": 2},
        "q6": {"m6": 2},
    }
    learners = mentoring.find_learners(askers, qrels, known=["ana", "bo", "cy", "m1"])
    assert learners.truth == {"ana": {"m1", "m2"}, "cy": {"m4"}}
    assert learners.questions == {"ana": ["q1", "q2"], "cy": ["q4", "q5"]}


def _dump(folder: Path, posts: list[dict[str, str]], users: list[dict[str, str]]) -> None:
    folder.mkdir(parents=True)
    for name, rows in (("Posts", posts), ("Users", users)):
        body = "".join(
            "  <row " + " ".join(f'{k}="{v}"' for k, v in row.items()) + " />\n" for row in rows
        )
        (folder / f"{name}.xml").write_text(
            f'<?xml version="1.0" encoding="utf-8"?>\n<{name.lower()}>\n{body}</{name.lower()}>\n'
        )


def test_askers_come_from_the_data_dump(tmp_path: Path) -> None:
    _dump(
        tmp_path / "ai",
        posts=[
            {"Id": "5", "PostTypeId": "1", "OwnerUserId": "7"},
            {"Id": "6", "PostTypeId": "1"},  # a deleted owner
            {"Id": "8", "PostTypeId": "2", "OwnerUserId": "7"},
        ],
        users=[{"Id": "7", "AccountId": "123"}],
    )
    askers = mentoring.stack_exchange_askers(tmp_path, ["ai:q5", "ai:q6"])
    assert askers == {"ai:q5": "acct:123"}
    with pytest.raises(DatasetError, match="<site>:q<post id>"):
        mentoring.stack_exchange_askers(tmp_path, ["q5"])
    with pytest.raises(DatasetError, match="iot"):
        mentoring.stack_exchange_askers(tmp_path, ["iot:q1"])


def test_the_reference_lists_the_most_active_writers_of_the_learner_s_department(
    tiny: Recommender,
) -> None:
    rank = mentoring.department_reference(tiny)
    # Data: ada wrote d1, d2 (accepted answer), d3 and d6; cy wrote d6 and only asked d2.
    assert rank("cy") == ["ada"]
    assert rank("ada") == ["cy"]
    assert rank("bob") == [], "bob is the only writer of Facilities"


def _thread(doc_id: str, title: str, asker: str, answerer: str) -> dict[str, object]:
    return {
        "id": doc_id,
        "title": title,
        "text": f"{title}?\n\nAnswer:\nIt depends on the stake pool.",
        "authors": [asker, answerer],
        "contributions": [
            {"person": asker, "role": "asked", "created": "2021-03-01"},
            {"person": answerer, "role": "accepted_answer", "created": "2021-03-02"},
        ],
        "department": "Cardano",
    }


@pytest.mark.slow
def test_the_command_scores_a_small_stack_exchange_site(tmp_path: Path, encoder: Encoder) -> None:
    dataset, raw = tmp_path / "se", tmp_path / "raw"
    dataset.mkdir()
    documents = [
        _thread("cardano:q1", "How are stake pool rewards computed", "acct:1", "acct:2"),
        _thread("cardano:q2", "When are staking rewards paid", "acct:1", "acct:2"),
        _thread("cardano:q3", "Can I run a stake pool on a laptop", "acct:4", "acct:3"),
    ]
    people = [{"id": f"acct:{i}", "name": f"P{i}", "department": "Cardano"} for i in range(1, 5)]
    for name, rows in (("documents", documents), ("people", people)):
        (dataset / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    queries = [
        {"id": "cardano:q10", "text": "Stake pool saturation?"},
        {"id": "cardano:q11", "text": "Why did my staking rewards drop?"},
    ]
    (dataset / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    # acct:2 answered them, and acct:9, who is not in the knowledge base.
    (dataset / "qrels_people.tsv").write_text(
        "query_id\tperson_id\tgrade\ncardano:q10\tacct:2\t2\ncardano:q11\tacct:9\t2\n"
    )
    (dataset / "qrels_resources.tsv").write_text("query_id\tdoc_id\tgrade\n")
    _dump(
        raw / "cardano",
        posts=[{"Id": "10", "OwnerUserId": "71"}, {"Id": "11", "OwnerUserId": "71"}],
        users=[{"Id": "71", "AccountId": "1"}],
    )
    records = ingest.run([dataset / "documents.jsonl"], [dataset / "people.jsonl"])
    index = tmp_path / "index"
    Recommender.build(records.documents, records.people, encoder=encoder).save(index)

    evaluation = mentoring.run(dataset, raw, Recommender.load(index, encoder=encoder))
    assert evaluation.learners == 1
    # Both find acct:2 (who answered acct:1 twice) and neither can find acct:9: 1/2.
    assert evaluation.scores["whoknows"].recall == pytest.approx(0.5)
    assert evaluation.scores["reference"].recall == pytest.approx(0.5)
    assert evaluation.rankings["whoknows"]["acct:1"][0] == "acct:2"

    app = typer.Typer()
    app.command()(evaluate_mentoring)
    out = tmp_path / "mentoring.json"
    result = CliRunner().invoke(
        app, [str(dataset), "--raw", str(raw), "--index", str(index), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "| whoknows | 0.500 | 1.000 |" in result.output
    assert json.loads(out.read_text())["learners"] == 1
    nowhere = CliRunner().invoke(
        app, [str(dataset), "--raw", str(tmp_path / "nowhere"), "--cache-dir", str(tmp_path)]
    )
    assert nowhere.exit_code == 1
    assert "nowhere" in nowhere.output and "Posts.xml" in nowhere.output
