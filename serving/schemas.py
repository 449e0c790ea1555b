"""Request and response bodies of the HTTP API (the only place pydantic models live)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.records import Document, Person, ResourceType
from models.results import PersonHit, PersonProfile, Recommendations, ResourceHit

Limit = Annotated[int, Field(strict=True, ge=1, le=50)]


class Strict(BaseModel):
    """Rejects unknown fields, so that a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class FiltersIn(Strict):
    """Restricts results to part of the organisation; empty lists mean no restriction."""

    departments: list[str] = Field(
        default_factory=list,
        description="Keep documents and people of these departments.",
        max_length=100,
    )
    types: list[ResourceType] = Field(
        default_factory=list, description="Keep resources of these types.", max_length=10
    )


class RecommendationRequest(Strict):
    """A question, and how many answers of each kind to return."""

    query: str = Field(
        min_length=1,
        max_length=2000,
        description="The question in natural language.",
        examples=["How do I run a circuit on IBM's quantum hardware?"],
    )
    limit_resources: Limit = Field(5, description="How many resources (1-50).")
    limit_people: Limit = Field(5, description="How many people (1-50).")
    filters: FiltersIn = Field(default_factory=FiltersIn)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank; ask a question in words")
        return value


class ResourceWhy(BaseModel):
    """Why a resource was recommended."""

    passage: str = Field(description="The passage that matched the query best, in full.")
    found_by: dict[str, int] = Field(
        description="The rank each retriever (dense, lexical) gave it; absent if it missed it."
    )
    signals: dict[str, float] = Field(
        description="What each ranking signal added to the score (learned fusion), "
        "or the single signal's raw value."
    )


class ResourceOut(BaseModel):
    """A recommended resource."""

    id: str
    title: str
    type: ResourceType
    department: str | None
    url: str | None
    snippet: str = Field(description="The start of the passage that matched best.")
    score: float = Field(description="Fused ranking score; higher is better within a response.")
    why: ResourceWhy

    @classmethod
    def of(cls, hit: ResourceHit) -> ResourceOut:
        """From a recommender hit."""
        d = hit.document
        return cls(
            id=d.id,
            title=d.title,
            type=d.type,
            department=d.department,
            url=d.url,
            snippet=hit.snippet,
            score=round(hit.score, 4),
            why=ResourceWhy(passage=hit.passage, found_by=hit.retrievers, signals=hit.signals),
        )


class EvidenceOut(BaseModel):
    """A document that shows a person's expertise for this query."""

    id: str
    title: str
    score: float = Field(
        description="Cosine similarity of the document's best passage to the query."
    )
    role: str = Field(description="What the person did in it: author, answered, ...")
    share: float = Field(description="Its share of the evidence listed for this person.")


class PersonOut(BaseModel):
    """A recommended colleague and the evidence for them."""

    id: str
    name: str
    department: str | None
    title: str | None
    score: float = Field(description="Ranking score; higher is better within a response.")
    signals: dict[str, float] = Field(
        description="What each group of signals added to the score: documents, writing, "
        "profile, activity, topics. Negative means below the average candidate."
    )
    evidence: list[EvidenceOut]

    @classmethod
    def of(cls, hit: PersonHit) -> PersonOut:
        """From a recommender hit."""
        p = hit.person
        total = sum(e.contribution for e in hit.evidence) or 1.0
        return cls(
            id=p.id,
            name=p.name,
            department=p.department,
            title=p.title,
            score=round(hit.score, 4),
            signals={k: round(v, 4) for k, v in hit.signals.items()},
            evidence=[
                EvidenceOut(
                    id=e.document.id,
                    title=e.document.title,
                    score=round(e.relevance, 4),
                    role=e.role,
                    share=round(e.contribution / total, 4),
                )
                for e in hit.evidence
            ],
        )


class RecommendationResponse(BaseModel):
    """Resources to read and colleagues to ask."""

    id: str = Field(description="Id of this recommendation, for feedback.")
    resources: list[ResourceOut]
    people: list[PersonOut]
    index_version: str

    @classmethod
    def of(cls, recommendation_id: str, answer: Recommendations) -> RecommendationResponse:
        """From the recommender's answer."""
        return cls(
            id=recommendation_id,
            resources=[ResourceOut.of(h) for h in answer.resources],
            people=[PersonOut.of(h) for h in answer.people],
            index_version=answer.index_version,
        )


class PersonRef(BaseModel):
    """A person named by a document."""

    id: str
    name: str


class ResourceDetail(BaseModel):
    """A resource with its full text."""

    id: str
    title: str
    type: ResourceType
    department: str | None
    url: str | None
    tags: list[str]
    created: str | None
    authors: list[PersonRef]
    text: str

    @classmethod
    def of(cls, document: Document, authors: list[Person]) -> ResourceDetail:
        """From a document and its known authors."""
        return cls(
            id=document.id,
            title=document.title,
            type=document.type,
            department=document.department,
            url=document.url,
            tags=list(document.tags),
            created=document.created,
            authors=[PersonRef(id=p.id, name=p.name) for p in authors],
            text=document.text,
        )


class AuthoredOut(BaseModel):
    """One of a person's documents."""

    id: str
    title: str
    type: ResourceType
    role: str
    weight: float = Field(description="How strongly the role ties the person to the document.")


class PersonDetail(BaseModel):
    """A person's profile and their strongest documents."""

    id: str
    name: str
    title: str | None
    department: str | None
    location: str | None
    bio: str
    skills: list[str]
    documents: list[AuthoredOut]

    @classmethod
    def of(cls, profile: PersonProfile) -> PersonDetail:
        """From the recommender's profile."""
        p = profile.person
        return cls(
            id=p.id,
            name=p.name,
            title=p.title,
            department=p.department,
            location=p.location,
            bio=p.bio,
            skills=list(p.skills),
            documents=[
                AuthoredOut(
                    id=a.document.id,
                    title=a.document.title,
                    type=a.document.type,
                    role=a.role,
                    weight=a.weight,
                )
                for a in profile.documents
            ],
        )


class Problem(BaseModel):
    """An error: what went wrong and, where it applies, which field to fix."""

    detail: str
    field: str | None = None


class Health(BaseModel):
    """Liveness and readiness."""

    status: str
    index_version: str | None = None
    detail: str | None = None
