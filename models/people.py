"""Who knows about a query: the one path from a query's documents to its experts.

The service and the ranker training both go through :class:`PeopleFinder`, so
that the people features a ranker learns from are computed exactly as the
service computes them:

1. the query's candidate documents are ordered by the evidence ranker (learned
   fusion without query expansion; the configured fusion when there is none);
2. the profiles (title, bio, skills) nearest to the query are searched;
3. the expertise model computes every candidate person's features over both
   (models.expertise) and, in service, scores them;
4. routing (models.routing) lists them: not the asker, across functions if
   asked, lighter on whoever is asked most, without near-copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.arrays import Ids, Matrix, Vectors
from models.exceptions import ConfigurationError
from models.expertise import ExpertiseModel, ExpertScore, PeopleCandidates
from models.index import VectorIndex
from models.ranker import LinearRanker
from models.retrieval import RESOURCE_FEATURES, DocumentRanking, DocumentRetriever, Retrieval
from models.routing import route, typical_exposure

#: How many of the nearest profiles become candidates (and get a profile score).
PROFILE_CANDIDATES = 200


class PeopleFinder:
    """Finds and ranks the people whose work shows expertise in a query.

    Args:
        retriever: fuses the query's candidate documents.
        profiles: the profile vectors.
        model: the expertise model (features and the people ranker).
        evidence_ranker: the resources ranker that orders the documents people are
            judged by; None to use the retriever's own fusion (``rrf`` if that is
            ``learned``).
        departments: each person's department, by row.
        load_balance: how much recent exposure lowers a person (models.routing).

    Raises:
        ConfigurationError: the evidence ranker is not a resources ranker, or needs
            features this version does not compute.
    """

    def __init__(
        self,
        retriever: DocumentRetriever,
        profiles: VectorIndex,
        model: ExpertiseModel,
        evidence_ranker: LinearRanker | None,
        departments: Sequence[str | None] = (),
        load_balance: float = 0.0,
    ) -> None:
        if evidence_ranker is not None:
            if evidence_ranker.task != "resources":
                raise ConfigurationError("the evidence ranker must be a resources ranker")
            evidence_ranker.check_features(RESOURCE_FEATURES)
        self._retriever = retriever
        self._profiles = profiles
        self._model = model
        self._evidence_ranker = evidence_ranker
        self._departments = list(departments)
        self._load_balance = load_balance

    def rank(
        self,
        retrieval: Retrieval,
        limit: int,
        *,
        asker: int | None = None,
        cross_functional: bool = False,
        exposure: Matrix | None = None,
    ) -> list[ExpertScore]:
        """The ``limit`` people listed for a query that its masks allow, with their evidence.

        Args:
            retrieval: the query.
            limit: how many to list.
            asker: the asker's row, if known: never listed, and the department that
                ``cross_functional`` and each person's ``crosses`` refer to.
            cross_functional: prefer colleagues of another department than the asker's.
            exposure: each person's recent exposure, by row (None: none known).
        """
        ranking = self.documents(retrieval, self._evidence_ranker)
        found = self._model.candidates(
            ranking,
            retrieval.text,
            self._nearest_profiles(retrieval),
            retrieval.people,
            documents=retrieval.documents,
            as_of=retrieval.as_of,
        )
        if len(found.rows) == 0 or limit == 0:
            return []
        contributions = self._model.contributions(found)
        rows = found.rows
        at = np.flatnonzero(rows == asker) if asker is not None else np.zeros(0, dtype=np.int64)
        routed = route(
            contributions.values.sum(axis=1),
            [self._departments[int(r)] for r in rows],
            exposure[rows] if exposure is not None else np.zeros(len(rows)),
            found.votes[:, rows],
            typical=0.0 if exposure is None else typical_exposure(exposure),
            asker=int(at[0]) if len(at) else None,
            asker_department=None if asker is None else self._departments[asker],
            cross_functional=cross_functional,
            load_balance=self._load_balance,
            limit=limit,
        )
        return self._model.explain(found, ranking, contributions, routed.order, routed)

    def candidates(
        self, retrieval: Retrieval, evidence_ranker: LinearRanker | None
    ) -> PeopleCandidates:
        """Every candidate person and their features, over documents ordered by
        ``evidence_ranker`` (training passes one fitted without the query).
        """
        ranking = self.documents(retrieval, evidence_ranker)
        return self._model.candidates(
            ranking,
            retrieval.text,
            self._nearest_profiles(retrieval),
            retrieval.people,
            documents=retrieval.documents,
            as_of=retrieval.as_of,
        )

    def documents(
        self, retrieval: Retrieval, evidence_ranker: LinearRanker | None
    ) -> DocumentRanking:
        """The documents whose authors are judged, best first."""
        if evidence_ranker is not None:
            fusion = "learned"
        else:
            fusion = "rrf" if self._retriever.fusion == "learned" else self._retriever.fusion
        return self._retriever.fuse(
            retrieval.candidates,
            self._model.config.candidate_documents,
            fusion=fusion,
            ranker=evidence_ranker,
        )

    def _nearest_profiles(self, retrieval: Retrieval) -> tuple[Ids, Vectors]:
        """Rows and cosine similarities of the allowed profiles nearest to the query."""
        allowed = None if retrieval.people.all() else retrieval.people
        hits = self._profiles.search(retrieval.vector, PROFILE_CANDIDATES, allowed=allowed)
        found = hits.ids[0] >= 0
        return hits.ids[0][found], hits.scores[0][found]
