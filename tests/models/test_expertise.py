from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.config import RecommenderConfig
from models.evidence import EvidenceIndex
from models.exceptions import ConfigurationError
from models.expertise import (
    PEOPLE_FEATURES,
    PEOPLE_SCALING,
    ExpertiseModel,
    people_candidates,
)
from models.features import Features
from models.ranker import LinearRanker
from models.records import Contribution, Document, Person
from models.retrieval import RESOURCE_FEATURES, DocumentRanking

#: The shipped parameters, as params.yaml sets them.
EXPERTISE = RecommenderConfig().expertise

PEOPLE = [
    Person("asker", "A"),
    Person("answerer", "B"),
    Person("author", "C"),
    Person("veteran", "D"),
]
ROW = {p.id: i for i, p in enumerate(PEOPLE)}


def documents() -> list[Document]:
    return [
        Document(
            "thread",
            "Kafka lag",
            "question and answer",
            department="Data",
            tags=("kafka",),
            created="2024-06-01",
            contributions=(
                Contribution("asker", "asked", created="2024-06-01"),
                Contribution("answerer", "accepted_answer", created="2024-06-02"),
            ),
        ),
        Document(
            "wiki",
            "Kafka wiki",
            "page",
            department="Data",
            authors=("author",),
            created="2024-05-01",
        ),
        Document(
            "old",
            "Kafka in 2014",
            "old page",
            department="Data",
            tags=("kafka",),
            authors=("veteran",),
            created="2014-06-01",
        ),
        Document("roof", "Roofs", "tiles", department="Facilities", authors=("author",)),
    ]


def ranking(rows: list[int]) -> DocumentRanking:
    n = len(rows)
    scores = np.linspace(1.0, 0.5, n).astype(np.float32)
    relevance = ((scores - scores.mean()) / (scores.std() or 1)).astype(np.float32)
    features = Features.of(
        RESOURCE_FEATURES, {f: scores if f == "dense" else np.zeros(n) for f in RESOURCE_FEATURES}
    )
    nothing = np.zeros(n, dtype=np.int64)
    lexical = np.zeros(4, dtype=np.float32)
    lexical[rows] = scores
    return DocumentRanking(
        np.array(rows), scores, relevance, features, nothing, nothing, nothing, None, lexical
    )


@pytest.fixture(scope="module")
def index() -> EvidenceIndex:
    return EvidenceIndex(documents(), PEOPLE, EXPERTISE.evidence)


def no_profiles() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


def feature(
    index: EvidenceIndex, rows: list[int], name: str, documents: np.ndarray | None = None
) -> dict[str, float]:
    found = people_candidates(
        index, EXPERTISE, ranking(rows), "kafka", no_profiles(), np.ones(4, bool), documents
    )
    column = found.features.column(name)
    return {PEOPLE[int(c)].id: float(column[i]) for i, c in enumerate(found.rows)}


def test_evidence_weighs_roles_and_age_with_a_floor(index: EvidenceIndex) -> None:
    def kept(days: float) -> float:
        """The shipped decay: half in 365 days, never below a floor of 0.25."""
        return 0.25 + 0.75 * float(0.5 ** (days / 365))

    assert (EXPERTISE.evidence.recency_half_life_days, EXPERTISE.evidence.recency_floor) == (
        365.0,
        0.25,
    )
    evidence = index.evidence.toarray()
    # Age counts from the department's newest document (2024-06-01).
    assert evidence[0, ROW["asker"]] == pytest.approx(0.1 * kept(0), abs=1e-4)
    assert evidence[0, ROW["answerer"]] == pytest.approx(1.0 * kept(0), abs=1e-4)
    assert evidence[1, ROW["author"]] == pytest.approx(kept(31), abs=1e-4)
    old = evidence[2, ROW["veteran"]]
    assert old == pytest.approx(kept(3653), abs=1e-4), "ten years old"
    assert old > 0.25, "ten-year-old evidence counts little, but never nothing"
    assert evidence[3, ROW["author"]] == 0.25, "undated evidence counts as old"


def test_the_answerer_outranks_the_asker_on_document_evidence(index: EvidenceIndex) -> None:
    for name in ("model2", "combsum", "combmnz", "expcombmnz"):
        values = feature(index, [0, 1], name)
        assert values["answerer"] > values["asker"], name
    assert feature(index, [1, 0], "best_rank")["author"] == 1.0
    assert feature(index, [0, 1], "top10")["author"] == 1.0


def test_recent_activity_counts_in_the_query_departments(index: EvidenceIndex) -> None:
    recent = feature(index, [0, 1, 2], "activity_recent")
    assert recent["answerer"] > recent["veteran"]
    assert feature(index, [0, 1, 2], "experience")["veteran"] > 0


def test_tag_match_follows_the_tags_of_the_best_documents(index: EvidenceIndex) -> None:
    tags = feature(index, [0, 2], "tag_match")
    assert tags["answerer"] > 0 and tags["veteran"] > 0 and tags.get("author", 0) == 0


def test_people_outside_the_mask_are_not_candidates(index: EvidenceIndex) -> None:
    allowed = np.array([True, False, True, True])
    found = people_candidates(index, EXPERTISE, ranking([0, 1]), "kafka", no_profiles(), allowed)
    assert ROW["answerer"] not in found.rows


def test_excluded_documents_give_no_evidence_of_any_kind(index: EvidenceIndex) -> None:
    only_roofs = np.array([False, False, False, True])
    for name in ("model1", "activity_recent", "activity_year", "experience", "tag_match"):
        values = feature(index, [3], name, only_roofs)
        assert values.get("answerer", 0) == 0 and values.get("veteran", 0) == 0, name
    assert feature(index, [3], "experience", only_roofs)["author"] > 0


def test_a_single_feature_model_ranks_and_explains(index: EvidenceIndex) -> None:
    model = ExpertiseModel(index, dataclasses.replace(EXPERTISE, model="combsum"), None)
    ranked = model.rank(ranking([0, 1]), "kafka", no_profiles(), np.ones(4, bool), 3)
    assert PEOPLE[ranked[0].person].id == "answerer"
    assert ranked[0].signals == {"documents": pytest.approx(ranked[0].score)}
    assert ranked[0].votes[0].role == "accepted_answer"


def test_learned_signals_add_up_to_the_score(index: EvidenceIndex) -> None:
    weights = tuple(1.0 if f in ("combsum", "activity_recent") else 0.0 for f in PEOPLE_FEATURES)
    ranker = LinearRanker("people", PEOPLE_FEATURES, weights, PEOPLE_SCALING)
    ranked = ExpertiseModel(index, EXPERTISE, ranker).rank(
        ranking([0, 1, 2]), "kafka", no_profiles(), np.ones(4, bool), 4
    )
    for expert in ranked:
        assert sum(expert.signals.values()) == pytest.approx(expert.score)
        assert set(expert.signals) == {"documents", "writing", "profile", "activity", "topics"}


def test_a_profile_alone_can_make_someone_a_candidate(index: EvidenceIndex) -> None:
    profiles = (np.array([ROW["veteran"]]), np.array([0.9], dtype=np.float32))
    found = people_candidates(index, EXPERTISE, ranking([3]), "roofs", profiles, np.ones(4, bool))
    row = list(found.rows).index(ROW["veteran"])
    assert found.features.column("profile")[row] == pytest.approx(0.9)


def test_unknown_models_and_missing_rankers_are_refused(index: EvidenceIndex) -> None:
    with pytest.raises(ConfigurationError, match="people_model must be one of"):
        ExpertiseModel(index, dataclasses.replace(EXPERTISE, model="magic"), None)
    with pytest.raises(ConfigurationError, match="needs a people ranker"):
        ExpertiseModel(index, EXPERTISE, None)
