"""Typed results of a recommendation, as a notebook or the HTTP layer sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.records import Document, Person


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
            (tags they work on). Negative means below the average candidate.
        evidence: their strongest documents for this query.
    """

    person: Person
    score: float
    signals: dict[str, float]
    evidence: tuple[Evidence, ...]


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

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON, MLflow, notebooks): the main fields of every hit."""
        return {
            "query": self.query,
            "index_version": self.index_version,
            "resources": [
                {
                    "id": h.document.id,
                    "title": h.document.title,
                    "type": h.document.type.value,
                    "department": h.document.department,
                    "url": h.document.url,
                    "snippet": h.snippet,
                    "score": round(h.score, 4),
                    "found_by": dict(h.retrievers),
                    "signals": dict(h.signals),
                }
                for h in self.resources
            ],
            "people": [
                {
                    "id": h.person.id,
                    "name": h.person.name,
                    "department": h.person.department,
                    "title": h.person.title,
                    "score": round(h.score, 4),
                    "signals": {k: round(v, 4) for k, v in h.signals.items()},
                    "evidence": [
                        {"id": e.document.id, "title": e.document.title, "role": e.role}
                        for e in h.evidence
                    ],
                }
                for h in self.people
            ],
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
