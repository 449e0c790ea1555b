from __future__ import annotations

import numpy as np
import pytest

from models.assembly import Assembly, assemble, embed
from models.config import RecommenderConfig
from models.encoder import Encoder
from models.recommender import Recommender
from models.records import Document
from models.results import Filters
from models.retrieval import FUSIONS


def ask(tiny: Recommender, query: str, fusion: str, wanted: int = 8) -> list[str]:
    (retrieval,) = tiny.retrieve([query], depth=50)
    ranking = tiny.rank_documents(retrieval, wanted, fusion=fusion)
    return [tiny.documents[r].id for r in ranking.rows]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_finds_the_obvious_document(tiny: Recommender, fusion: str) -> None:
    assert ask(tiny, "broken roof tiles after a storm", fusion)[0] in {"d4", "d8"}


def test_lexical_candidates_get_exact_dense_scores(
    tiny: Recommender, tiny_assembly: Assembly
) -> None:
    (retrieval,) = tiny.retrieve(["gutters"], depth=2)
    found = retrieval.candidates
    row = list(found.rows).index(tiny_assembly.parts.corpus.document_rows["d8"])
    assert found.lexical_rank[row] == 1
    passage = int(found.best_passage[row])
    passages = tiny_assembly.parts.passages
    expected = float(passages.similarities(retrieval.vector[0], np.array([passage]))[0])
    assert found.features.column("dense")[row] == pytest.approx(expected, abs=1e-5)


def test_explanations_name_the_retrievers_and_signals(tiny: Recommender) -> None:
    hit = tiny.recommend("roof inspection checklist for gutters", 1, 0).resources[0]
    assert hit.document.id == "d8"
    assert set(hit.retrievers) == {"dense", "lexical"}
    assert set(hit.signals) == set(tiny.rankers["resources"].features)
    assert sum(hit.signals.values()) == pytest.approx(hit.score, abs=1e-3)
    assert "gutters" in hit.passage


def test_filters_apply_to_bm25_before_the_cut(tiny: Recommender) -> None:
    # The Kafka documents (Data) match the words better than the roof ones; BM25 proposes two.
    query = "kafka consumer lag on the roof"

    def proposed_by_bm25(filters: Filters | None) -> set[str]:
        (retrieval,) = tiny.retrieve([query], filters, depth=2)
        found = retrieval.candidates
        return {
            tiny.documents[r].id
            for r, rank in zip(found.rows, found.lexical_rank, strict=True)
            if rank
        }

    assert proposed_by_bm25(None) == {"d1", "d2"}, "without a filter, only the Data ones"
    facilities = proposed_by_bm25(Filters(departments=("Facilities",)))
    assert facilities == {"d4", "d8"}, "the filter is applied first, then the best two kept"


def test_rrf_ignores_corpus_order_and_unproposed_lists(encoder: Encoder) -> None:
    twins = [
        Document(f"t{i}", "Boiler service", "Bleed the radiators every autumn.") for i in range(3)
    ]
    other = [Document(f"o{i}", f"Note {i}", "Unrelated text about gardens.") for i in range(5)]
    recommender = Recommender.build([*other, *twins], [], encoder=encoder)
    (retrieval,) = recommender.retrieve(["radiator maintenance"], depth=50)
    found = retrieval.candidates
    rows = {d.id: i for i, d in enumerate(recommender.documents)}
    twin_rows = [rows[f"t{i}"] for i in range(3)]
    rrf = {int(r): f for r, f in zip(found.rows, found.features.column("rrf"), strict=True)}
    assert len({round(rrf[r], 9) for r in twin_rows}) == 1, "identical documents share a rank"
    for row, lexical_rank, value in zip(
        found.rows, found.lexical_rank, found.features.column("rrf"), strict=True
    ):
        if lexical_rank == 0:
            dense_rank = found.dense_rank[list(found.rows).index(row)]
            assert value == pytest.approx(1 / (60 + dense_rank)), (
                "a list that did not propose it adds nothing"
            )


def test_ranks_are_competition_ranks_as_scipy_gives_them() -> None:
    from scipy.stats import rankdata

    from models.retrieval import _ranks

    rng = np.random.default_rng(7)
    for _ in range(50):
        scores = rng.integers(0, 6, size=40).astype(np.float64)  # many ties
        proposed = rng.random(40) < 0.6
        expected = np.zeros(40, dtype=np.int64)
        if proposed.any():
            expected[proposed] = rankdata(-scores[proposed], method="min")
        np.testing.assert_array_equal(_ranks(scores, proposed), expected)


def test_a_lexical_candidate_scores_its_best_passage_of_several(encoder: Encoder) -> None:
    topics = ["tomato seedlings", "invoice approval", "kafka consumer lag", "roof gutters"]
    documents = [
        Document(
            f"d{i}",
            f"Notes {i}",
            " ".join(
                f"Part {j} is about {topics[(i + j) % 4]} and the warehouse audit."
                for j in range(8)
            ),
        )
        for i in range(6)
    ]
    config = RecommenderConfig(passage_tokens=16, passage_overlap=0)
    made = assemble(embed(documents, [], encoder, config), encoder, config)
    corpus, passages = made.parts.corpus, made.parts.passages
    (retrieval,) = Recommender(made).retrieve(["warehouse audit of kafka consumer lag"], depth=2)
    found = retrieval.candidates
    dense = {int(corpus.passages[p, 0]) for p in passages.search(retrieval.vector, 2).ids[0]}
    lexical_only = [row for row in found.rows if int(row) not in dense]
    assert lexical_only and all((corpus.passages[:, 0] == r).sum() > 1 for r in lexical_only)
    for i, row in enumerate(found.rows):
        own = np.flatnonzero(corpus.passages[:, 0] == row)
        scores = passages.similarities(retrieval.vector[0], own)
        assert found.features.column("dense")[i] == pytest.approx(scores.max(), abs=1e-6)
        assert found.best_passage[i] == own[int(np.argmax(scores))]
