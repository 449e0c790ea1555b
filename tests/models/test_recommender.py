from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from models.config import RecommenderConfig
from models.encoder import Encoder
from models.exceptions import (
    ArtifactError,
    ArtifactFormatError,
    ConfigurationError,
    EncoderMismatchError,
    InvalidFilterError,
    InvalidQueryError,
    UnknownPersonError,
    UnknownResourceError,
)
from models.expertise import PEOPLE_FEATURES, PEOPLE_SCALING
from models.ranker import LinearRanker
from models.recommender import Recommender
from models.records import Document
from models.results import Filters
from tests.conftest import tiny_records


def test_finds_the_right_resource_and_expert(tiny: Recommender) -> None:
    answer = tiny.recommend("my kafka consumer group is lagging behind", 3, 3)
    assert answer.resources[0].document.id in {"d1", "d2"}
    assert answer.people[0].person.id == "ada"
    assert {e.document.id for e in answer.people[0].evidence} & {"d1", "d2"}
    assert answer.resources[0].score >= answer.resources[1].score
    assert answer.index_version == tiny.index_version


def test_asker_ranks_below_the_accepted_answerer(tiny: Recommender) -> None:
    people = [h.person.id for h in tiny.recommend("consumer lag on one partition", 5, 4).people]
    assert people.index("ada") < people.index("cy")


def test_profile_brings_in_someone_without_documents(
    tiny: Recommender, encoder: Encoder, tmp_path: Path
) -> None:
    question = "who handles payslips and salary tax withholding?"
    dee = next(h for h in tiny.recommend(question, 3, 4).people if h.person.id == "dee")
    assert dee.evidence == () and dee.signals["profile"] > 0
    # The shipped ranker learned from data where profiles say little; an organisation
    # whose profiles are curated trains (or writes) a ranker that trusts them.
    weights = {f: (1.0 if f == "profile" else 0.1) for f in PEOPLE_FEATURES}
    ranker = tmp_path / "people.json"
    LinearRanker("people", PEOPLE_FEATURES, tuple(weights.values()), PEOPLE_SCALING).save(ranker)
    config = dataclasses.replace(tiny.config, people_ranker=str(ranker))
    documents, people = tiny_records()
    trusting = Recommender.build(documents, people, encoder=encoder, config=config)
    assert trusting.recommend(question, 3, 2).people[0].person.id == "dee"


def test_filters_restrict_resources_people_and_evidence(tiny: Recommender) -> None:
    answer = tiny.recommend("kafka consumers", 8, 4, Filters(departments=("Facilities",)))
    assert {h.document.department for h in answer.resources} == {"Facilities"}
    assert {h.person.department for h in answer.people} <= {"Facilities"}
    typed = tiny.recommend("kafka", 8, 4, Filters(types=("course", "wiki")))
    assert {h.document.id for h in typed.resources} == {"d3", "d6"}
    for hit in typed.people:
        assert {e.document.id for e in hit.evidence} <= {"d3", "d6"}


@pytest.mark.parametrize(
    ("query", "field"), [("", "query"), ("  \n\t ", "query"), ("x" * 2001, "query")]
)
def test_unusable_queries_are_refused_with_the_field(
    tiny: Recommender, query: str, field: str
) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        tiny.recommend(query)
    assert caught.value.field == field


def test_unknown_filter_values_name_the_known_ones(tiny: Recommender) -> None:
    with pytest.raises(InvalidFilterError, match="'Data', 'Facilities', 'Finance'"):
        tiny.recommend("x", filters=Filters(departments=("Legal",)))
    with pytest.raises(InvalidFilterError, match="unknown type 'memo'"):
        tiny.recommend("x", filters=Filters(types=("memo",)))


def test_lone_surrogates_in_a_query_do_not_break_it(tiny: Recommender) -> None:
    assert tiny.recommend("kafka \ud800 lag").resources


def test_lookups(tiny: Recommender) -> None:
    assert tiny.resource("d4").title == "Fixing a leaking roof"
    profile = tiny.profile("ada")
    assert profile.documents[0].role in {"author", "accepted_answer"}
    assert {a.document.id for a in profile.documents} == {"d1", "d2", "d3", "d6"}
    with pytest.raises(UnknownResourceError):
        tiny.resource("nope")
    with pytest.raises(UnknownPersonError):
        tiny.profile("nope")


def test_save_and_load_answer_alike(tiny: Recommender, encoder: Encoder, tmp_path: Path) -> None:
    tiny.save(tmp_path / "idx", extras={"note.txt": "hello"})
    loaded = Recommender.load(tmp_path / "idx", encoder=encoder)
    question = "roof tiles broken after the storm"
    before, after = tiny.recommend(question), loaded.recommend(question)
    assert [h.document.id for h in before.resources] == [h.document.id for h in after.resources]
    assert [h.person.id for h in before.people] == [h.person.id for h in after.people]
    assert loaded.manifest == tiny.manifest
    assert (tmp_path / "idx" / "note.txt").read_text() == "hello"


def test_loading_with_another_encoder_says_so(
    tiny: Recommender, encoder: Encoder, tmp_path: Path
) -> None:
    tiny.save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["encoder"]["fingerprint"] = "sha256:" + "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(EncoderMismatchError, match="built with the encoder"):
        Recommender.load(tmp_path / "idx", encoder=encoder)
    manifest["encoder"]["dimension"] = 768
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(EncoderMismatchError, match="768-dimensional"):
        Recommender.load(tmp_path / "idx", encoder=encoder)


def test_config_rejects_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        RecommenderConfig.from_dict({"passage_tokenz": 10})
    assert RecommenderConfig.from_dict(RecommenderConfig().to_dict()) == RecommenderConfig()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"passage_tokens": "200"}, "passage_tokens must be a whole number"),
        ({"passage_overlap": 150}, "passage_overlap must be a whole number from 0 to 100"),
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"index_kind": "hnws"}, "index_kind must be one of auto, flat, hnsw"),
        ({"role_weights": ["author"]}, "role_weights must map role names"),
        ({"evidence_per_person": -1}, "evidence_per_person"),
    ],
)
def test_config_checks_types_and_ranges_up_front(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecommenderConfig.from_dict(values)


def test_one_long_document_cannot_crowd_out_the_others(encoder: Encoder) -> None:
    # Small passages make the handbook a few hundred of them, more than the first dense
    # search looks at (256), and all nearer the question than any note: only a deeper
    # search finds the notes. Dense fusion, and notes that share no word with the
    # question, so that BM25 cannot propose them instead.
    handbook = Document("big", "Kafka handbook", "Kafka consumer lag and partitions. " * 1200)
    notes = [
        Document(f"s{i}", f"Streaming note {i}", f"Readers falling behind the stream, tip {i}.")
        for i in range(30)
    ]
    others = [Document(f"o{i}", f"Garden {i}", "Water the tomatoes.") for i in range(30)]
    config = RecommenderConfig(
        fusion="dense", retrieval_depth=10, passage_tokens=32, passage_overlap=8
    )
    recommender = Recommender.build([handbook, *notes, *others], [], encoder=encoder, config=config)
    handbook_passages = recommender.manifest.counts["passages"] - len(notes) - len(others)
    assert handbook_passages > 256, "the first dense search would already see every passage"
    answer = recommender.recommend("how do I reduce kafka consumer lag", limit_resources=20)
    found = [r.document.id for r in answer.resources]
    assert len(found) == 20 and found[0] == "big"
    assert set(found[1:]) <= {n.id for n in notes}, "the notes come before the garden"


def test_a_damaged_index_is_refused_at_load(
    tiny: Recommender, encoder: Encoder, tmp_path: Path
) -> None:
    tiny.save(tmp_path / "idx")
    documents = tmp_path / "idx" / "documents.jsonl"
    documents.write_text("".join(documents.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(ArtifactFormatError, match="damaged .*documents: the manifest says 8"):
        Recommender.load(tmp_path / "idx", encoder=encoder)


def test_building_over_a_folder_that_is_not_an_index_is_refused(
    tiny: Recommender, tmp_path: Path
) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="refusing to replace"):
        tiny.save(tmp_path)
    assert (tmp_path / "mine.txt").exists()


def with_evidence_ranker(encoder: Encoder, ranker: LinearRanker, folder: Path) -> Recommender:
    """The tiny index built with another ranker for the documents people are judged by."""
    ranker.save(folder / "evidence.json")
    config = RecommenderConfig(evidence_ranker=str(folder / "evidence.json"))
    documents, people = tiny_records()
    return Recommender.build(documents, people, encoder=encoder, config=config)


def test_people_are_judged_by_the_evidence_ranker(
    tiny: Recommender, encoder: Encoder, tmp_path: Path
) -> None:
    # The evidence ranker orders the documents that vote for people; the shipped
    # one leaves out the query-expansion feature that the resources ranker uses.
    assert "feedback" in tiny.rankers["resources"].features
    assert "feedback" not in tiny.rankers["evidence"].features
    tiny.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "ranker-evidence.json").is_file()
    # A lexical-only evidence ranker changes who is found for a query only dense
    # retrieval understands, and leaves the resources alone.
    lexical = LinearRanker("resources", ("lexical",), (1.0,))
    swapped = with_evidence_ranker(encoder, lexical, tmp_path)
    question = "who can fix the shingles on top of our building"
    before, after = tiny.recommend(question), swapped.recommend(question)
    assert [h.document.id for h in before.resources] == [h.document.id for h in after.resources]
    assert [e.document.id for h in before.people for e in h.evidence] != [
        e.document.id for h in after.people for e in h.evidence
    ]
    people = LinearRanker("people", ("model2",), (1.0,))
    with pytest.raises(ConfigurationError, match="evidence ranker must be a resources ranker"):
        with_evidence_ranker(encoder, people, tmp_path)
