"""Hybrid document retrieval: dense passages and BM25, fused into one ranking.

Both retrievers propose candidates (the best documents of each); every
candidate is then scored by both, exactly, so that fusion compares like with
like:

- ``dense``: cosine similarity of the document's best passage to the query;
- ``first_passage``: the same for its first passage (a title, a question, an
  abstract: where a document says what it is about);
- ``lexical``: BM25 over title, text, tags and author names;
- ``title_lexical``: BM25 over the title alone (a question's or report's title
  names its subject in few words);
- ``rrf``: reciprocal rank fusion of the dense and lexical rankings (k = 60);
- ``feedback``: pseudo-relevance feedback (RM3-style): BM25 of the words that
  weigh most in the three best documents by ``rrf``, mixed half and half with
  the query's own BM25 (both scaled to the query's best candidate).

Fusion is one of: ``learned`` (a linear ranker over all four, see
models.ranker), ``rrf``, or a single retriever (``dense``, ``lexical``) for
comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from models.arrays import Ids, Mask, Matrix, Vectors
from models.corpus import Corpus
from models.exceptions import ConfigurationError
from models.features import Features
from models.index import VectorIndex
from models.lexical import LexicalIndex
from models.ranker import LinearRanker, standardise

RESOURCE_FEATURES = ("dense", "first_passage", "lexical", "title_lexical", "rrf", "feedback")
FUSIONS = ("learned", "rrf", "dense", "lexical")
RRF_K = 60
#: Pseudo-relevance feedback: this many best documents by rrf give this many
#: expansion words, mixed with the query's own BM25 at this share.
FEEDBACK_DOCUMENTS = 3
FEEDBACK_TERMS = 10
FEEDBACK_ORIGINAL = 0.5


@dataclass(frozen=True, slots=True)
class Candidates:
    """Every document either retriever proposed for one query, unordered.

    Attributes:
        rows: document rows.
        features: raw RESOURCE_FEATURES per document.
        best_passage: the passage that matched best, per document.
        dense_rank: rank among the dense retriever's candidates (1 = first), 0 if not one.
        lexical_rank: the same for BM25.
        lexical_scores: BM25 score of every document of the corpus (for expertise).
    """

    rows: Ids
    features: Features
    best_passage: Ids
    dense_rank: Ids
    lexical_rank: Ids
    lexical_scores: Vectors

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls, lexical_scores: Vectors) -> Candidates:
        """No candidates at all."""
        nothing = np.zeros(0, dtype=np.int64)
        features = Features.empty(RESOURCE_FEATURES)
        return cls(nothing, features, nothing, nothing, nothing, lexical_scores)


@dataclass(frozen=True, slots=True)
class Retrieval:
    """One query as both rankings (resources and people) start from it.

    Attributes:
        text: the query's words.
        vector: its embedding, (1, dimension).
        documents: the documents the query's filters and the caller's groups allow.
        people: the people who may be returned (filters, minus hidden people).
        candidates: what the retrievers proposed among the allowed documents.
        as_of: when the query was asked, for a query of the past (a mined
            judgment): activity then counts from this moment. None: now.
    """

    text: str
    vector: Vectors
    documents: Mask
    people: Mask
    candidates: Candidates
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentRanking:
    """Documents for one query, best first, with what each retriever saw.

    Attributes:
        rows: document rows.
        scores: the fused score (higher is better; its scale depends on the fusion).
        relevance: per-query z-score of the fused score, comparable across fusions.
        features: raw RESOURCE_FEATURES per document.
        best_passage: the passage that matched best, per document.
        dense_rank: rank among the dense retriever's candidates (1 = first), 0 if not one.
        lexical_rank: the same for BM25.
        contributions: weight times z-score of each of the ranker's features (learned
            fusion only).
        lexical_scores: BM25 score of every document of the corpus (for expertise).
    """

    rows: Ids
    scores: Vectors
    relevance: Vectors
    features: Features
    best_passage: Ids
    dense_rank: Ids
    lexical_rank: Ids
    contributions: Features | None
    lexical_scores: Vectors

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dense(self) -> Matrix:
        """The best-passage cosine similarity of each document."""
        return self.features.column("dense")


class DocumentRetriever:
    """Finds and fuses candidate documents.

    Args:
        corpus: documents and passages.
        passages: the passage vectors.
        lexical: BM25 over documents.
        titles: BM25 over document titles.
        fusion: one of FUSIONS.
        ranker: the learned ranker (needed for ``learned`` fusion).
        depth: how many candidates each retriever proposes.
    """

    def __init__(
        self,
        corpus: Corpus,
        passages: VectorIndex,
        lexical: LexicalIndex,
        titles: LexicalIndex,
        *,
        fusion: str,
        ranker: LinearRanker | None,
        depth: int,
    ) -> None:
        if fusion not in FUSIONS:
            raise ConfigurationError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        if fusion == "learned":
            if ranker is None or ranker.task != "resources":
                raise ConfigurationError("learned fusion needs a resources ranker")
            ranker.check_features(RESOURCE_FEATURES)
        self.corpus = corpus
        self.passages = passages
        self.lexical = lexical
        self.titles = titles
        self.fusion = fusion
        self.ranker = ranker
        self.depth = depth
        starts = np.searchsorted(corpus.passages[:, 0], np.arange(len(corpus.documents)))
        self._first_passage = starts.astype(np.int64)

    def candidates(
        self, vector: Vectors, text: str, documents: Mask, passages: Mask, depth: int
    ) -> Candidates:
        """What both retrievers propose, each candidate scored by both; :meth:`fuse` orders them.

        Args:
            vector: the query's embedding.
            text: the query's words, for BM25.
            documents: which documents may be returned.
            passages: which passages may be searched (those of allowed documents).
            depth: how many documents each retriever proposes.
        """
        dense_rows, dense_best, dense_scores = self._dense_candidates(vector, passages, depth)
        lexical_scores = self.lexical.scores(text)
        allowed = documents & (lexical_scores > 0)
        lexical_rows = _top(np.where(allowed, lexical_scores, -np.inf), depth)
        rows = np.union1d(dense_rows, lexical_rows).astype(np.int64)
        if len(rows) == 0:
            return Candidates.empty(lexical_scores)
        dense, best = self._dense_scores(vector, rows, dense_rows, dense_best, dense_scores)
        first = self.passages.similarities(vector[0], self._first_passage[rows]).astype(np.float64)
        lexical = lexical_scores[rows].astype(np.float64)
        titles = self.titles.scores(text)[rows].astype(np.float64)
        # Standard reciprocal rank fusion: a retriever adds 1 / (k + its rank) for
        # the documents it proposed, nothing for the others; equal scores share a rank.
        dense_rank = _ranks(dense, np.isin(rows, dense_rows))
        lexical_rank = _ranks(lexical, np.isin(rows, lexical_rows))
        rrf = _reciprocal(dense_rank) + _reciprocal(lexical_rank)
        feedback = self._feedback(rows, rrf, lexical)
        features = {
            "dense": dense,
            "first_passage": first,
            "lexical": lexical,
            "title_lexical": titles,
            "rrf": rrf,
            "feedback": feedback,
        }
        return Candidates(
            rows=rows,
            features=Features.of(RESOURCE_FEATURES, features),
            best_passage=best,
            dense_rank=dense_rank,
            lexical_rank=lexical_rank,
            lexical_scores=lexical_scores,
        )

    def fuse(
        self,
        found: Candidates,
        wanted: int,
        *,
        fusion: str | None = None,
        ranker: LinearRanker | None = None,
    ) -> DocumentRanking:
        """Order candidates by the fused score and keep the best ``wanted``.

        Args:
            found: the candidates of one query.
            wanted: how many to keep.
            fusion: another fusion than the configured one (for comparisons).
            ranker: another resources ranker than the configured one (for training).
        """
        fusion = fusion or self.fusion
        features = found.features
        contributions = None
        if fusion == "learned":
            ranker = ranker or self.ranker
            if ranker is None:
                raise ConfigurationError("learned fusion needs a resources ranker")
            contributions = ranker.contributions(features)
            scores = contributions.values.sum(axis=1)
        elif fusion == "lexical":  # dense breaks BM25's ties
            scores = features.column("lexical") + 1e-6 * features.column("dense")
        else:  # rrf, dense: one feature alone
            scores = features.column(fusion)
        order = np.argsort(-scores, kind="stable")[:wanted]
        relevance = standardise(scores[:, None])[:, 0]
        return DocumentRanking(
            rows=found.rows[order],
            scores=scores[order].astype(np.float32),
            relevance=relevance[order].astype(np.float32),
            features=features.take(order),
            best_passage=found.best_passage[order],
            dense_rank=found.dense_rank[order],
            lexical_rank=found.lexical_rank[order],
            contributions=None if contributions is None else contributions.take(order),
            lexical_scores=found.lexical_scores,
        )

    def _feedback(self, rows: Ids, rrf: Matrix, lexical: Matrix) -> Matrix:
        """The candidates' BM25 for the query expanded from its best documents by rrf.

        The feedback documents are candidates, so they obey the query's filters.
        """
        best = rows[np.argsort(-rrf, kind="stable")[:FEEDBACK_DOCUMENTS]]
        expanded = self.lexical.feedback_scores(best, FEEDBACK_TERMS)[rows].astype(np.float64)
        mixed: Matrix = FEEDBACK_ORIGINAL * _scaled(lexical) + (1 - FEEDBACK_ORIGINAL) * _scaled(
            expanded
        )
        return mixed

    def _dense_candidates(
        self, vector: Vectors, passages: Mask, wanted: int
    ) -> tuple[Ids, Ids, Matrix]:
        """The documents whose passages are nearest (at least ``wanted`` if there are).

        Returns:
            Their rows, best passages and best passages' scores, best first.
        """
        allowed = int(passages.sum())
        if allowed == 0:
            nothing = np.zeros(0, dtype=np.int64)
            return nothing, nothing, np.zeros(0)
        corpus = self.corpus
        per_document = max(1.0, len(corpus.passages) / max(1, len(corpus.documents)))
        k = min(allowed, max(256, int(wanted * per_document * 2)))
        while True:
            hits = self.passages.search(vector, k, allowed=passages)
            ids = hits.ids[0][hits.ids[0] >= 0]
            docs = corpus.passages[ids, 0]
            # Hits come best first, so a document's first hit is its best passage.
            _, first = np.unique(docs, return_index=True)
            # A few long documents can own most of the top passages: search deeper
            # until enough distinct documents are found or every passage was seen.
            if len(first) >= wanted or k >= allowed:
                break
            k = min(allowed, k * 4)
        first = np.sort(first)[:wanted]
        scores = hits.scores[0][first].astype(np.float64)
        return docs[first].astype(np.int64), ids[first].astype(np.int64), scores

    def _dense_scores(
        self, vector: Vectors, rows: Ids, dense_rows: Ids, dense_best: Ids, dense_scores: Matrix
    ) -> tuple[Matrix, Ids]:
        """Best-passage score and passage of each document, exactly.

        The dense search already found them for the documents it proposed; the
        others (found by BM25 alone) have all their passages scored in one product
        (a document's passages are consecutive ids), then the best of each taken.
        """
        scores = np.empty(len(rows))
        best = np.empty(len(rows), dtype=np.int64)
        at = {int(r): i for i, r in enumerate(dense_rows)}
        found = np.array([at.get(int(row), -1) for row in rows], dtype=np.int64)
        proposed = found >= 0
        scores[proposed] = dense_scores[found[proposed]]
        best[proposed] = dense_best[found[proposed]]
        others = rows[~proposed]
        if len(others):
            ends = np.append(self._first_passage[1:], len(self.corpus.passages))
            starts = self._first_passage[others]
            lengths = ends[others] - starts
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            passages = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
            similarities = self.passages.similarities(vector[0], passages)
            tops = np.maximum.reduceat(similarities, offsets)
            # the first passage reaching its document's best, as argmax would pick
            is_top = similarities == np.repeat(tops, lengths)
            place = np.where(is_top, np.arange(len(passages)), len(passages))
            scores[~proposed] = tops
            best[~proposed] = passages[np.minimum.reduceat(place, offsets)]
        return scores, best


def _top(scores: npt.NDArray[np.floating], k: int) -> Ids:
    """Indices of the k largest finite scores, unordered."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) <= k:
        return finite.astype(np.int64)
    part = np.argpartition(-scores[finite], k - 1)[:k]
    return finite[part].astype(np.int64)


def _ranks(scores: Matrix, proposed: Mask) -> Ids:
    """1-based competition rank among the proposed documents; 0 for the others.

    Equal scores share the best of their ranks, so corpus order never decides.
    """
    ranks = np.zeros(len(scores), dtype=np.int64)
    if proposed.any():
        values = -scores[proposed]  # 1 + how many score strictly higher (scipy's "min")
        ranks[proposed] = np.searchsorted(np.sort(values), values, side="left") + 1
    return ranks


def _scaled(scores: Matrix) -> Matrix:
    """Scores divided by the largest (unchanged if none is positive)."""
    top = float(scores.max()) if len(scores) else 0.0
    out: Matrix = scores / top if top > 0 else scores
    return out


def _reciprocal(ranks: Ids) -> Matrix:
    out: Matrix = np.where(ranks > 0, 1.0 / (RRF_K + np.maximum(ranks, 1)), 0.0)
    return out


def lexical_texts(corpus: Corpus) -> list[str]:
    """What BM25 reads of a document: its title (twice: it matters more), text, tags, authors."""
    names = {p.id: p.name for p in corpus.people}
    return [
        "\n".join(
            [
                d.title,
                d.title,
                d.text,
                " ".join(d.tags),
                " ".join(names.get(a, "") for a in d.authors),
            ]
        )
        for d in corpus.documents
    ]
