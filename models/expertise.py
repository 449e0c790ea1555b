"""Who knows about a query: people ranked by the evidence of their work.

From the fused document ranking of a query (only documents the query's filters
allow), each candidate person gets these signals (features), all computed from
the evidence in models.evidence:

- ``model2``: document-centric Model 2 (Balog et al., SIGIR 2006): the sum over
  the top documents of p(query | document) · p(person | document), with a
  softmax over the documents' scores and the evidence spread over contributors;
- ``combsum``, ``combmnz``, ``expcombmnz``: the voting models of Macdonald and
  Ounis (CIKM 2006): sums of the document scores (min-max scaled) times the
  evidence, times the number of voting documents (MNZ), with exp() scores;
- ``best_rank``: 1 / (1 + the rank of their best document);
- ``top10``: how many of the ten best documents are theirs;
- ``model1``: candidate-centric Model 1: BM25 of the query against everything
  they wrote, concatenated into one document (with a document filter, the sum
  of the BM25 scores of the allowed documents they wrote);
- ``profile``: cosine similarity of the query to their title, bio and skills;
- ``activity_recent``, ``activity_year``, ``activity_week``: log of their dated
  writing with a 30-day, a 365-day and a 7-day half-life, in the departments of
  the query's best documents;
- ``experience``: log of all their writing in those departments;
- ``tag_match``: overlap of the tags of the query's best documents with the
  tags of the documents they wrote;
- ``recent_votes``: how recently and how much they wrote on the query's best
  documents (Model 2's softmax weights times their writing, decayed with a
  365-day half-life);
- ``acceptance``: the share of their answers in question threads that the asker
  accepted, smoothed ((accepted + 1) / (answers + 2)).

Every one is computed as of the query's moment: for a query of the past (a
judgment mined from history) only older documents count, and ages count from
that moment.

A learned linear ranker combines them (models.ranker), or one of them ranks
alone (for comparison).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse

from models.arrays import Ids, Mask, Matrix, Vectors
from models.evidence import ACTIVITY_HALF_LIVES, EvidenceConfig, EvidenceIndex, row_shares
from models.exceptions import ConfigurationError
from models.features import Features
from models.ranker import LinearRanker
from models.retrieval import DocumentRanking
from models.routing import Routed
from models.selection import select

PEOPLE_FEATURES = (
    "model2",
    "combsum",
    "combmnz",
    "expcombmnz",
    "best_rank",
    "top10",
    "model1",
    "profile",
    "activity_recent",
    "activity_year",
    "activity_week",
    "experience",
    "tag_match",
    "recent_votes",
    "acceptance",
)
#: How features group into the signals an explanation reports.
SIGNALS: Mapping[str, str] = {
    "model2": "documents",
    "combsum": "documents",
    "combmnz": "documents",
    "expcombmnz": "documents",
    "best_rank": "documents",
    "top10": "documents",
    "model1": "writing",
    "profile": "profile",
    "activity_recent": "activity",
    "activity_year": "activity",
    "activity_week": "activity",
    "experience": "activity",
    "tag_match": "topics",
    "recent_votes": "documents",
    "acceptance": "activity",
}
PEOPLE_MODELS = ("learned", *PEOPLE_FEATURES)
#: Features with a unit (log counts): compared within a query by centring only.
CENTRED_FEATURES = frozenset(
    {"top10", "activity_recent", "activity_year", "activity_week", "experience", "tag_match"}
)
PEOPLE_SCALING = tuple("centre" if f in CENTRED_FEATURES else "z" for f in PEOPLE_FEATURES)
CANDIDATES_PER_SOURCE = 50
#: The activity half-lives (models.evidence.ACTIVITY_HALF_LIVES), in days.
WEEK, MONTH, YEAR = ACTIVITY_HALF_LIVES
#: The query's departments and topics are read off this many of its best documents.
DEPARTMENT_DOCUMENTS = 20
TOPIC_DOCUMENTS = 10


@dataclass(frozen=True, slots=True)
class ExpertiseConfig:
    """Parameters of the expertise model: a view of models.config.RecommenderConfig,
    which holds their defaults (``RecommenderConfig().expertise``).

    Attributes:
        model: ``learned`` or the name of one feature that ranks alone.
        candidate_documents: how many top documents vote.
        temperature: softmax temperature of Model 2 over z-scored document scores.
        evidence_per_person: how many evidence documents to report per person.
        evidence: how contributions become evidence (roles, recency).
    """

    model: str
    candidate_documents: int
    temperature: float
    evidence_per_person: int
    evidence: EvidenceConfig


@dataclass(frozen=True, slots=True)
class Vote:
    """One document's evidence for one person in one query."""

    document: int
    relevance: float
    contribution: float
    role: str


@dataclass(frozen=True, slots=True)
class ExpertScore:
    """A person's score for a query, with the signals and documents behind it.

    Attributes:
        person: the person's row in the corpus.
        score: the ranking score (its scale depends on the model), routing included.
        signals: what each signal group added (learned model: weight times z-score),
            and what routing added (``load``, ``cross_functional``, ``diversity``).
        votes: the strongest evidence documents, largest first.
        crosses: whether their department differs from the asker's (None: unknown).
    """

    person: int
    score: float
    signals: dict[str, float]
    votes: tuple[Vote, ...]
    crosses: bool | None = None


@dataclass(frozen=True, slots=True)
class PeopleCandidates:
    """The candidate people of one query and their features.

    Attributes:
        rows: candidate rows in the corpus.
        features: their PEOPLE_FEATURES.
        votes: (top documents, people) Model 2 votes, for the evidence lists.
    """

    rows: Ids
    features: Features
    votes: sparse.csc_array


def people_candidates(
    evidence: EvidenceIndex,
    config: ExpertiseConfig,
    ranking: DocumentRanking,
    query: str,
    profiles: tuple[Ids, Vectors],
    people: Mask,
    documents: Mask | None = None,
    as_of: datetime | None = None,
) -> PeopleCandidates:
    """Candidate people of one query and their PEOPLE_FEATURES.

    Args:
        evidence: the corpus evidence.
        config: the expertise parameters.
        ranking: the query's documents, best first (only allowed ones).
        query: the query text, for Model 1.
        profiles: rows and cosine scores of the best-matching profiles.
        people: which people may be returned.
        documents: which documents the query may use; None for all.
        as_of: when a query of the past was asked (activity counts from then).
    """
    filtered = documents is not None and not documents.all()
    n_people = evidence.evidence.shape[1]
    top = ranking.rows[: config.candidate_documents]
    z = ranking.relevance[: len(top)].astype(np.float64)
    if len(top):
        spread = z.max() - z.min()
        scaled = (z - z.min()) / spread if spread > 0 else np.ones_like(z)
        softmax = np.exp((z - z.max()) / config.temperature)
        softmax /= softmax.sum()
    else:
        scaled = softmax = z
    # A query of the past sees only the contributions made before it.
    made = evidence.made_before(as_of) if as_of is not None else None
    if made is None:
        weights, shares = select(evidence.evidence, top), select(evidence.shares, top)
    else:
        written = sparse.csr_array(evidence.evidence[top].multiply(made[top]))
        weights, shares = select(written, _all(top)), select(row_shares(written), _all(top))
    present = weights.values > 0
    count = weights.counts(present)
    combsum = weights.sums(scaled)
    votes = shares.matrix(softmax)
    best = weights.first()
    head = min(len(top), DEPARTMENT_DOCUMENTS)
    departments = select(evidence.document_department, top[:head]).sums(softmax[:head])
    if departments.sum() > 0:
        departments /= departments.sum()
    totals = evidence.totals(documents if filtered else None, as_of)
    profile = np.zeros(n_people)
    profile[profiles[0]] = profiles[1]
    if filtered:
        assert documents is not None
        writing = evidence.writing
        if made is not None:
            writing = sparse.csr_array(writing.multiply(made))
        model1 = writing[documents].T @ ranking.lexical_scores[documents].astype(np.float64)
    else:
        model1 = evidence.lexical.scores(query).astype(np.float64)
    features = Features.of(
        PEOPLE_FEATURES,
        {
            "model2": shares.sums(softmax),
            "combsum": combsum,
            "combmnz": combsum * count,
            "expcombmnz": weights.sums(np.exp(scaled)) * count,
            "best_rank": np.where(np.isfinite(best), 1.0 / (1.0 + best), 0.0),
            "top10": weights.counts(present & (weights.positions < 10)),
            "model1": model1,
            "profile": profile,
            "activity_recent": totals.recent[MONTH] @ departments,
            "activity_year": totals.recent[YEAR] @ departments,
            "activity_week": totals.recent[WEEK] @ departments,
            "experience": totals.experience @ departments,
            "tag_match": _tag_match(
                evidence, totals.tags, top[:TOPIC_DOCUMENTS], softmax[:TOPIC_DOCUMENTS]
            ),
            "recent_votes": _recent_votes(evidence, top, softmax, as_of),
            "acceptance": (totals.accepted + 1.0) / (totals.answers + 2.0),
        },
    )
    # Every source is cut to its best allowed people, never before the filter.
    sources = [
        np.flatnonzero((count > 0) & people),
        _best(np.where(people, features.column("activity_recent"), 0.0)),
        _best(np.where(people, features.column("model1"), 0.0)),
        profiles[0][people[profiles[0]]],
    ]
    rows = np.unique(np.concatenate(sources).astype(np.int64))
    return PeopleCandidates(rows, features.take(rows), votes)


class ExpertiseModel:
    """Ranks people with the learned ranker or with one feature alone.

    Args:
        evidence: the corpus evidence.
        config: the expertise parameters.
        ranker: the people ranker (needed for the ``learned`` model).
    """

    def __init__(
        self, evidence: EvidenceIndex, config: ExpertiseConfig, ranker: LinearRanker | None
    ) -> None:
        if config.model not in PEOPLE_MODELS:
            raise ConfigurationError(
                f"people_model must be one of {', '.join(PEOPLE_MODELS)}, not {config.model!r}"
            )
        if config.model == "learned":
            if ranker is None or ranker.task != "people":
                raise ConfigurationError("the learned people model needs a people ranker")
            ranker.check_features(PEOPLE_FEATURES)
        self.evidence = evidence
        self.config = config
        self.ranker = ranker

    def candidates(
        self,
        ranking: DocumentRanking,
        query: str,
        profiles: tuple[Ids, Vectors],
        people: Mask,
        documents: Mask | None = None,
        as_of: datetime | None = None,
    ) -> PeopleCandidates:
        """The allowed candidate people of a query and their features (see people_candidates)."""
        return people_candidates(
            self.evidence, self.config, ranking, query, profiles, people, documents, as_of
        )

    def contributions(self, found: PeopleCandidates) -> Features:
        """What each feature adds to each candidate's score (one column: a feature alone)."""
        if self.config.model == "learned":
            assert self.ranker is not None
            return self.ranker.contributions(found.features)
        return found.features.select((self.config.model,))

    def rank(
        self,
        ranking: DocumentRanking,
        query: str,
        profiles: tuple[Ids, Vectors],
        people: Mask,
        limit: int,
        documents: Mask | None = None,
    ) -> list[ExpertScore]:
        """The best ``limit`` allowed people for a query, by score alone (no routing)."""
        found = self.candidates(ranking, query, profiles, people, documents)
        contributions = self.contributions(found)
        order = np.argsort(-contributions.values.sum(axis=1), kind="stable")[:limit]
        return self.explain(found, ranking, contributions, order)

    def explain(
        self,
        found: PeopleCandidates,
        ranking: DocumentRanking,
        contributions: Features,
        order: Ids,
        routed: Routed | None = None,
    ) -> list[ExpertScore]:
        """The listed candidates (``order``), each with the signals and evidence behind
        their score, and what routing added to it."""
        base = contributions.values.sum(axis=1)
        by_person = found.votes
        results = []
        for i in order:
            signals: dict[str, float] = {}
            for name, value in zip(contributions.names, contributions.values[i], strict=True):
                signals[SIGNALS[name]] = signals.get(SIGNALS[name], 0.0) + float(value)
            score = float(base[i])
            crosses = None
            if routed is not None:
                for name, added in routed.adjustments.items():
                    if added[i] != 0:
                        signals[name] = float(added[i])
                        score += float(added[i])
                crosses = routed.crosses[i]
            person = int(found.rows[i])
            results.append(
                ExpertScore(
                    person, score, signals, self._votes(ranking, by_person, person), crosses
                )
            )
        return results

    def _votes(
        self, ranking: DocumentRanking, votes: sparse.csc_array, person: int
    ) -> tuple[Vote, ...]:
        start, end = votes.indptr[person], votes.indptr[person + 1]
        rows, values = votes.indices[start:end], votes.data[start:end]
        strongest = np.argsort(-values, kind="stable")[: self.config.evidence_per_person]
        return tuple(
            Vote(
                document=int(ranking.rows[rows[i]]),
                relevance=float(ranking.dense[rows[i]]),
                contribution=float(values[i]),
                role=self.evidence.roles[int(ranking.rows[rows[i]])].get(person, "author"),
            )
            for i in strongest
            if values[i] > 0
        )


def _tag_match(
    evidence: EvidenceIndex, person_tags: sparse.csc_array, top: Ids, weights: Vectors
) -> Matrix:
    """Σ over the query's pseudo-tags (from its best documents) of log(1 + the person's count)."""
    query_tags = select(evidence.document_tags, top).sums(weights)
    total = query_tags.sum()
    if total <= 0:
        return np.zeros(person_tags.shape[0])
    out: Matrix = np.asarray(person_tags @ (query_tags / total)).ravel()
    return out


def _recent_votes(
    evidence: EvidenceIndex, top: Ids, weights: Matrix, as_of: datetime | None
) -> Matrix:
    """How recently and how much each person wrote on the query's best documents:
    Model 2's votes with each writing's weight decayed by its age (a year's half-life),
    counted from ``as_of`` when the query is of the past."""
    recent = evidence.recent_as_of(as_of, YEAR) if as_of is not None else evidence.recent[YEAR]
    return select(recent, top).sums(weights)


def _all(rows: Ids) -> Ids:
    return np.arange(len(rows), dtype=np.int64)


def _best(scores: Matrix, k: int = CANDIDATES_PER_SOURCE) -> Ids:
    positive = np.flatnonzero(scores > 0)
    order = np.argsort(-scores[positive], kind="stable")[:k]
    return positive[order].astype(np.int64)
