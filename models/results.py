"""Typed results of a recommendation, as a notebook or the HTTP layer sees them.

``to_dict`` gives the one JSON shape of an answer: the HTTP API returns it (and
documents it in serving.schemas), ``whoknows query --json`` prints it, and the
MLflow model's ``predict`` returns it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from models.records import PROFILE_FIELDS, Document, Person

#: Scores and signals in answers are rounded to this many decimals.
DECIMALS = 4
#: How many resources and people an answer holds when the caller does not say.
DEFAULT_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Filters:
    """Restricts a recommendation to part of the organisation.

    Documents outside the filter are neither returned nor counted as evidence;
    people outside the departments are not returned. Empty means no restriction.

    Attributes:
        departments: keep documents and people of these departments.
        types: keep documents of these resource types.
        groups: the caller's groups: keep public documents (no ``allowed_groups``)
            and those shared with one of these groups. None means a trusted caller
            who sees everything (a notebook, an evaluation); an empty tuple sees
            public documents only.
    """

    departments: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    groups: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ResourceHit:
    """A recommended resource, and why.

    Attributes:
        document: the resource.
        score: its fused ranking score (higher is better; compare within one answer).
        snippet: the start of the passage that matched best, for display.
        passage: the full text of that passage.
        retrievers: the rank each retriever (``dense``, ``lexical``) gave it among
            its candidates; a retriever that did not propose it is absent.
        signals: what each ranking signal added to the score (learned fusion), or
            the raw score of the single signal used.
        relevance: cosine similarity of its best passage to the query (how well it
            answers, on a scale that is comparable across queries).
    """

    document: Document
    score: float
    snippet: str
    passage: str
    retrievers: dict[str, int]
    signals: dict[str, float]
    relevance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The resource's fields, its score, and why it was recommended."""
        d = self.document
        return {
            "id": d.id,
            "title": d.title,
            "type": d.type.value,
            "department": d.department,
            "url": d.url,
            "snippet": self.snippet,
            "score": round(self.score, DECIMALS),
            "why": {
                "passage": self.passage,
                "found_by": dict(self.retrievers),
                "signals": {k: round(v, DECIMALS) for k, v in self.signals.items()},
            },
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """A document that shows a person's expertise for the query.

    Attributes:
        document: the document.
        relevance: its cosine similarity to the query.
        contribution: how much it added to the person's score.
        role: what the person did in it (author, answered, accepted_answer, ...).
    """

    document: Document
    relevance: float
    contribution: float
    role: str


@dataclass(frozen=True, slots=True)
class PersonHit:
    """A recommended colleague, with the evidence for them.

    Attributes:
        person: the colleague.
        score: their ranking score (higher is better; compare within one answer).
        signals: what each group of signals added to the score: ``documents`` (their
            documents among the best for the query), ``writing`` (everything they
            wrote, as one text), ``profile`` (title, bio, skills), ``activity``
            (recent and overall evidence in the query's departments), ``topics``
            (tags they work on); negative means below the average candidate. Then
            what routing added: ``load`` (they were asked much lately),
            ``cross_functional`` (another department than the asker's, when asked
            for), ``diversity`` (their evidence repeats someone listed above).
        evidence: their strongest documents for this query.
        crosses: whether their department differs from the asker's (None: either
            is unknown).
    """

    person: Person
    score: float
    signals: dict[str, float]
    evidence: tuple[Evidence, ...]
    crosses: bool | None = None

    def to_dict(self, fields: Collection[str] = PROFILE_FIELDS) -> dict[str, Any]:
        """The person (the id and the profile ``fields`` allowed), score, signals, evidence.

        Each evidence document's ``score`` is its similarity to the query and its
        ``share`` its part of the evidence listed for this person.
        """
        total = sum(e.contribution for e in self.evidence) or 1.0
        return self.person.shown(fields) | {
            "score": round(self.score, DECIMALS),
            "crosses_department": self.crosses,
            "signals": {k: round(v, DECIMALS) for k, v in self.signals.items()},
            "evidence": [
                {
                    "id": e.document.id,
                    "title": e.document.title,
                    "score": round(e.relevance, DECIMALS),
                    "role": e.role,
                    "share": round(e.contribution / total, DECIMALS),
                }
                for e in self.evidence
            ],
        }


@dataclass(frozen=True, slots=True)
class Recommendations:
    """What to read and whom to ask about one query.

    Attributes:
        query: the query as understood (whitespace trimmed).
        resources: best resources first.
        people: best people first.
        index_version: the build that answered.
    """

    query: str
    resources: tuple[ResourceHit, ...]
    people: tuple[PersonHit, ...]
    index_version: str

    def to_dict(self, fields: Collection[str] = PROFILE_FIELDS) -> dict[str, Any]:
        """The answer as plain data, people showing only the profile ``fields`` allowed."""
        return {
            "resources": [h.to_dict() for h in self.resources],
            "people": [h.to_dict(fields) for h in self.people],
            "index_version": self.index_version,
        }


@dataclass(frozen=True, slots=True)
class AuthoredDocument:
    """One of a person's documents with how strongly it ties them to its topic."""

    document: Document
    weight: float
    role: str


@dataclass(frozen=True, slots=True)
class PersonProfile:
    """A person and their strongest documents, strongest first."""

    person: Person
    documents: tuple[AuthoredDocument, ...]

    def to_dict(self, fields: Collection[str] = PROFILE_FIELDS) -> dict[str, Any]:
        """The person (the id and the profile ``fields`` allowed) and their documents."""
        return self.person.shown(fields) | {
            "documents": [
                {
                    "id": a.document.id,
                    "title": a.document.title,
                    "type": a.document.type.value,
                    "url": a.document.url,
                    "role": a.role,
                    "weight": a.weight,
                }
                for a in self.documents
            ]
        }
