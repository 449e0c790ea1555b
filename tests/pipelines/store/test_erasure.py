"""People erased on request leave every later build: records, authors, contributions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.records import Contribution, Document, Person
from pipelines.cli import app
from pipelines.ingest.erasure import erase_people
from pipelines.store import Store, person_hash

runner = CliRunner()


def test_erase_people_drops_the_person_and_every_mention() -> None:
    people = [Person("ada", "Ada"), Person("bob", "Bob")]
    documents = [
        Document(
            "q1",
            "Kafka lag",
            "text",
            authors=("ada", "bob"),
            contributions=(Contribution("ada", "asked"), Contribution("bob", "answered")),
        ),
        Document("d2", "Roof", "text", authors=("bob",)),
    ]
    kept = erase_people(documents, people, {person_hash("ada"), person_hash("nobody")})
    assert [p.id for p in kept.people] == ["bob"]
    assert kept.documents[0].authors == ("bob",)
    assert kept.documents[0].contributions == (Contribution("bob", "answered"),)
    assert kept.documents[1] is documents[1]
    assert kept.erased == 1
    assert erase_people(documents, people, set()).documents == documents


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kafka.md").write_text("---\nauthors: [ada, bob]\n---\n# Kafka lag\n\nScale up.\n")
    people = tmp_path / "people.csv"
    people.write_text("id,name,department\nada,Ada,Data\nbob,Bob,Facilities\ncy,Cy,Data\n")
    return docs, people


def test_ingest_honours_erasures_but_not_opt_outs(
    corpus: tuple[Path, Path], tmp_path: Path, database_url: str
) -> None:
    with Store(database_url) as store:
        store.erase("ada")
        store.suppress("cy", "opt_out")  # opted out: hidden when serving, still in the index
    docs, people = corpus
    out = tmp_path / "processed"
    result = runner.invoke(
        app,
        ["ingest", "-d", str(docs), "-p", str(people), "-o", str(out)],
        env={"WHOKNOWS_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "1 people erased on request" in result.stderr
    kept = [json.loads(line)["id"] for line in (out / "people.jsonl").read_text().splitlines()]
    assert kept == ["bob", "cy"]
    (document,) = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    assert document["authors"] == ["bob"]
    assert json.loads((out / "ingest-report.json").read_text())["erased"] == 1


def test_ingest_without_a_database_erases_nobody(
    corpus: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./whoknows.db here
    monkeypatch.delenv("WHOKNOWS_DATABASE_URL", raising=False)
    docs, people = corpus
    result = runner.invoke(app, ["ingest", "-d", str(docs), "-p", str(people), "-o", "out"])
    assert result.exit_code == 0, result.output
    assert "erased" not in result.stderr
    assert len((tmp_path / "out" / "people.jsonl").read_text().splitlines()) == 3
    assert not (tmp_path / "whoknows.db").exists()


def test_ingest_reads_the_default_database_when_it_exists(
    corpus: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WHOKNOWS_DATABASE_URL", raising=False)
    with Store("sqlite:///whoknows.db") as store:
        store.erase("bob")
    docs, people = corpus
    result = runner.invoke(app, ["ingest", "-d", str(docs), "-p", str(people), "-o", "out"])
    assert result.exit_code == 0, result.output
    assert "1 people erased on request" in result.stderr
