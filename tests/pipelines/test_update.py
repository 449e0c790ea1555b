"""`whoknows build --update`: only what changed is embedded, and the result is a full build."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.artifact import Manifest
from models.assembly import embeddings_of
from models.config import RecommenderConfig
from models.exceptions import ConfigurationError
from models.records import Document, Person
from pipelines import build
from pipelines.cli import app
from tests.conftest import tiny_records

QUERIES = ["kafka consumer lag", "roof tiles after a storm", "payroll tax", "spark memory"]
LONG = " ".join(f"Sentence {i} about boilers, radiators and heating circuits." for i in range(90))


def write(folder: Path, documents: list[Document], people: list[Person]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    docs, folks = folder / "documents.jsonl", folder / "people.jsonl"
    docs.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in documents))
    folks.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in people))
    return docs, folks


def edited() -> tuple[list[Document], list[Person]]:
    """The tiny records after a day of edits: every kind of change once."""
    documents, people = tiny_records()
    by_id = {d.id: d for d in documents}
    by_id["d3"] = dataclasses.replace(by_id["d3"], text=by_id["d3"].text + " Or use Spark SQL.")
    by_id["d5"] = dataclasses.replace(by_id["d5"], text=LONG)  # now several passages
    # cy left: gone from the people file and from what documents say (metadata only)
    by_id["d2"] = dataclasses.replace(by_id["d2"], authors=("ada",), contributions=())
    by_id["d6"] = dataclasses.replace(by_id["d6"], authors=("ada",))
    del by_id["d4"]  # deleted at the source: bob's roof case study
    by_id["d9"] = Document(
        "d9", "Payroll cut-off dates", "Submit overtime by the 20th.", authors=("dee",)
    )
    people = [p for p in people if p.id != "cy"]
    people = [
        dataclasses.replace(p, bio="Roofs and boilers") if p.id == "bob" else p for p in people
    ]
    people.append(Person("eve", "Eve Adams", department="Finance", bio="Payroll audits"))
    order = ["d9", "d1", "d2", "d3", "d5", "d6", "d7", "d8"]
    return [by_id[i] for i in order], people


@pytest.fixture(scope="module")
def updated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("update")
    before, after = write(root / "before", *tiny_records()), write(root / "after", *edited())
    index, full = root / "index", root / "full"
    build.run([before[0]], [before[1]], index)
    first = Manifest.read(index)
    result = build.update([after[0]], [after[1]], index)  # no cache: embedding is counted
    build.run([after[0]], [after[1]], full)
    return {"index": index, "full": full, "result": result, "first": first}


def test_an_update_is_the_full_build_of_the_new_sources(updated: dict[str, object]) -> None:
    index, full = Path(str(updated["index"])), Path(str(updated["full"]))
    ours, theirs = embeddings_of(index), embeddings_of(full)
    assert [d.id for d in ours.corpus.documents] == [d.id for d in theirs.corpus.documents]
    assert ours.corpus.documents == theirs.corpus.documents
    assert ours.corpus.people == theirs.corpus.people
    np.testing.assert_array_equal(ours.corpus.passages, theirs.corpus.passages)
    np.testing.assert_allclose(ours.passage_vectors, theirs.passage_vectors, atol=1e-6)
    np.testing.assert_array_equal(ours.profile_rows, theirs.profile_rows)
    np.testing.assert_allclose(ours.profile_vectors, theirs.profile_vectors, atol=1e-6)
    assert Manifest.read(index).data_hash == Manifest.read(full).data_hash
    assert Manifest.read(index).data_hash != dataclasses.asdict(updated["first"])["data_hash"]  # type: ignore[call-overload]


def test_an_update_ranks_as_the_full_build(updated: dict[str, object]) -> None:
    from models.recommender import Recommender

    ours = Recommender.load(Path(str(updated["index"])))
    theirs = Recommender.load(Path(str(updated["full"])))
    for query in QUERIES:
        a, b = ours.recommend(query), theirs.recommend(query)
        assert [(r.document.id, round(r.score, 6)) for r in a.resources] == [
            (r.document.id, round(r.score, 6)) for r in b.resources
        ]
        assert [(p.person.id, round(p.score, 6)) for p in a.people] == [
            (p.person.id, round(p.score, 6)) for p in b.people
        ]


def test_only_new_and_changed_text_is_embedded(updated: dict[str, object]) -> None:
    result = updated["result"]
    assert isinstance(result, build.UpdateResult)
    changes = result.changes
    new = embeddings_of(Path(str(updated["index"])))
    rows = {d.id: i for i, d in enumerate(new.corpus.documents)}
    fresh = sum(int((new.corpus.passages[:, 0] == rows[i]).sum()) for i in ("d3", "d5", "d9"))
    assert fresh > 3, "the long text is several passages"
    assert changes.passages_embedded == fresh, "d2 and d6 lost an author: their vectors stay"
    assert (changes.documents_added, changes.documents_changed) == (1, 4)
    assert (changes.documents_removed, changes.documents_unchanged) == (1, 3)
    assert (changes.people_added, changes.people_changed, changes.people_removed) == (1, 1, 1)
    assert changes.profiles_embedded == 2, "eve's new profile and bob's new bio"


def test_what_left_the_sources_leaves_results_and_evidence(updated: dict[str, object]) -> None:
    from models.recommender import Recommender

    recommender = Recommender.load(Path(str(updated["index"])))
    answer = recommender.recommend("fixing a leaking roof")
    assert "d4" not in {r.document.id for r in answer.resources}
    assert answer.people, "bob still knows about roofs (d8)"
    for person in answer.people:
        assert "d4" not in {e.document.id for e in person.evidence}
        assert person.person.id != "cy"
    kafka = recommender.recommend("kafka consumer lag")
    assert "cy" not in {p.person.id for p in kafka.people}


def test_an_unchanged_source_embeds_nothing(tmp_path: Path) -> None:
    docs, people = write(tmp_path / "src", *tiny_records())
    build.run([docs], [people], tmp_path / "index")
    result = build.update([docs], [people], tmp_path / "index")
    assert not result.changes.any
    assert (result.changes.passages_embedded, result.changes.profiles_embedded) == (0, 0)


def test_other_passage_parameters_need_a_full_build(tmp_path: Path) -> None:
    docs, people = write(tmp_path / "src", *tiny_records())
    build.run([docs], [people], tmp_path / "index")
    with pytest.raises(ConfigurationError, match="build it in full"):
        build.update(
            [docs], [people], tmp_path / "index", config=RecommenderConfig(passage_tokens=100)
        )
    with pytest.raises(ConfigurationError, match="build it in full"):
        build.update(
            [docs],
            [people],
            tmp_path / "index",
            config=RecommenderConfig(encoder_backend="onnx-int8"),
        )


def test_the_command_updates_in_place_and_says_what_changed(tmp_path: Path) -> None:
    before, after = (
        write(tmp_path / "before", *tiny_records()),
        write(tmp_path / "after", *edited()),
    )
    runner = CliRunner()
    index = tmp_path / "index"
    args = ["--people", str(before[1]), "--no-track", "--no-cache"]
    built = runner.invoke(app, ["build", "--documents", str(before[0]), "--out", str(index), *args])
    assert built.exit_code == 0, built.output
    args = ["--people", str(after[1]), "--no-track", "--no-cache"]
    done = runner.invoke(
        app, ["build", "--documents", str(after[0]), "--update", "--index", str(index), *args]
    )
    assert done.exit_code == 0, done.output
    assert "update: documents 1 added, 4 changed, 1 removed, 3 unchanged" in done.output
    assert "people 1 added, 1 changed, 1 removed" in done.output
    assert [d.id for d in embeddings_of(index).corpus.documents][0] == "d9"
    missing = runner.invoke(app, ["build", "--documents", str(after[0]), "--update", *args])
    assert missing.exit_code != 0 and "--index DIR" in missing.output
