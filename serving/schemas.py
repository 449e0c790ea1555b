"""Request and response bodies of the HTTP API (the only place pydantic models live)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from models.recommender import CONTROLS
from models.records import Document, Person, ResourceType
from models.results import DEFAULT_LIMIT, PersonProfile, Recommendations
from pipelines.store import Analytics
from pipelines.store.records import Action, ItemKind


def _whole(value: object) -> object:
    """22.0 is the integer 22 in JSON Schema; strings and booleans stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Limit = Annotated[int, Field(strict=True, ge=1, le=50), BeforeValidator(_whole)]


class Strict(BaseModel):
    """Rejects unknown fields, so that a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class FiltersIn(Strict):
    """Restricts results to part of the organisation; empty lists mean no restriction."""

    departments: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
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
        # at least one character that is neither a space nor a control character
        pattern=r"[^\s\x00-\x1f\x7f-\x9f]",
        description="The question in natural language.",
        examples=["How do I run a circuit on IBM's quantum hardware?"],
    )
    limit_resources: Limit = Field(DEFAULT_LIMIT, description="How many resources (1-50).")
    limit_people: Limit = Field(DEFAULT_LIMIT, description="How many people (1-50).")
    filters: FiltersIn = Field(default_factory=FiltersIn)
    cross_functional: bool = Field(
        False,
        strict=True,
        description="Prefer colleagues of another department than the asker's when their "
        "evidence is comparable.",
    )
    requester_id: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="For admin keys that ask on someone's behalf: the person asking (never "
        "recommended to themself; their department is the one cross_functional leaves).",
    )

    @field_validator("query", mode="before")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        if isinstance(value, str) and value and not value.translate(CONTROLS).strip():
            raise ValueError(
                "the query is blank (spaces or control characters only); ask a question in words"
            )
        return value


class Answer(BaseModel):
    """A part of an answer, filled from the ``to_dict`` of models.results (the one shape of
    an answer): a field that one has and the other lacks fails loudly instead of drifting."""

    model_config = ConfigDict(extra="forbid")


class ResourceWhy(Answer):
    """Why a resource was recommended."""

    passage: str = Field(description="The passage that matched the query best, in full.")
    found_by: dict[str, int] = Field(
        description="The rank each retriever (dense, lexical) gave it; absent if it missed it."
    )
    signals: dict[str, float] = Field(
        description="What each ranking signal added to the score (learned fusion), "
        "or the single signal's raw value."
    )


class ResourceOut(Answer):
    """A recommended resource."""

    id: str
    title: str
    type: ResourceType
    department: str | None
    url: str | None
    snippet: str = Field(description="The start of the passage that matched best.")
    score: float = Field(description="Fused ranking score; higher is better within a response.")
    why: ResourceWhy


class EvidenceOut(Answer):
    """A document that shows a person's expertise for this query."""

    id: str
    title: str
    score: float = Field(
        description="Cosine similarity of the document's best passage to the query."
    )
    role: str = Field(description="What the person did in it: author, answered, ...")
    share: float = Field(description="Its share of the evidence listed for this person.")


class PersonOut(Answer):
    """A recommended colleague and the evidence for them.

    Of the profile, only the fields listed in WHOKNOWS_PROFILE_FIELDS are present.
    """

    id: str
    name: str | None = None
    department: str | None = None
    title: str | None = None
    location: str | None = None
    bio: str | None = None
    skills: list[str] | None = None
    score: float = Field(description="Ranking score; higher is better within a response.")
    crosses_department: bool | None = Field(
        description="Whether their department differs from the asker's (null: either unknown)."
    )
    signals: dict[str, float] = Field(
        description="What each group of signals added to the score: documents, writing, "
        "profile, activity, topics (negative: below the average candidate); and what routing "
        "added: load, cross_functional, diversity."
    )
    evidence: list[EvidenceOut]


class RecommendationResponse(Answer):
    """Resources to read and colleagues to ask."""

    id: str = Field(description="Id of this recommendation, for feedback.")
    resources: list[ResourceOut]
    people: list[PersonOut]
    index_version: str

    @classmethod
    def of(
        cls, recommendation_id: str, answer: Recommendations, fields: Sequence[str]
    ) -> RecommendationResponse:
        """From the recommender's answer, with only the allowed profile fields of people."""
        return cls.model_validate({"id": recommendation_id, **answer.to_dict(fields)})


class FiltersOut(BaseModel):
    """What recommendations can be filtered by, for this caller."""

    departments: list[str] = Field(description="Departments of people and visible documents.")
    types: list[ResourceType] = Field(description="Types of the documents the caller may see.")


class PersonRef(BaseModel):
    """A person named by a document (the name only if profile fields allow it)."""

    id: str
    name: str | None = None


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
    def of(cls, document: Document, authors: list[Person], fields: Sequence[str]) -> ResourceDetail:
        """From a document and its known, visible authors."""
        return cls(
            id=document.id,
            title=document.title,
            type=document.type,
            department=document.department,
            url=document.url,
            tags=list(document.tags),
            created=document.created,
            authors=[PersonRef(**p.shown(set(fields) & {"name"})) for p in authors],
            text=document.text,
        )


class AuthoredOut(Answer):
    """One of a person's documents."""

    id: str
    title: str
    type: ResourceType
    url: str | None
    role: str
    weight: float = Field(description="How strongly the role ties the person to the document.")


class ProfileOut(Answer):
    """A person: the id and the profile fields WHOKNOWS_PROFILE_FIELDS allows."""

    id: str
    name: str | None = None
    title: str | None = None
    department: str | None = None
    location: str | None = None
    bio: str | None = None
    skills: list[str] | None = None


class PersonDetail(ProfileOut):
    """A person's profile (the fields WHOKNOWS_PROFILE_FIELDS allows) and their documents."""

    documents: list[AuthoredOut]

    @classmethod
    def of(cls, profile: PersonProfile, fields: Sequence[str]) -> PersonDetail:
        """From the recommender's profile: allowed fields, documents the caller may see."""
        return cls.model_validate(profile.to_dict(fields))


class Problem(BaseModel):
    """An error: what went wrong and, where it applies, which field to fix."""

    detail: str
    field: str | None = None


class Health(BaseModel):
    """Liveness and readiness."""

    status: str = Field(description="ok (/healthz); ready, loading or failed (/readyz).")
    index_version: str | None = Field(None, description="The index served, once loaded.")
    database: str | None = Field(
        None,
        description="/readyz: ok, or unavailable (recommendations are still served; "
        "feedback, keys and analytics answer 503).",
    )
    detail: str | None = None


class FeedbackIn(Strict):
    """What the caller did with one item of a recommendation."""

    recommendation_id: str = Field(
        min_length=1, max_length=64, description="The id of the recommendation response."
    )
    item_id: str = Field(min_length=1, max_length=1000, description="The resource or person id.")
    item_kind: ItemKind
    action: Action


class FeedbackOut(BaseModel):
    """Feedback was recorded (201), or the same event was already (200: kept once)."""

    status: Literal["recorded", "already_recorded"] = "recorded"


class ReloadOut(BaseModel):
    """What POST /v1/admin/reload did."""

    index_version: str = Field(description="The version now served.")
    previous_version: str | None = Field(description="The version served before.")
    changed: bool = Field(description="False if the index on disk was the one already served.")
    seconds: float = Field(description="How long loading the new index took.")


class PrivacyOut(BaseModel):
    """A privacy request was carried out."""

    id: str
    status: Literal["opted_out", "erased"]
    in_index: bool = Field(description="Whether the served index held the person.")
    deleted_records: int = Field(0, description="Rows removed from the database (erasure).")


class TermOut(BaseModel):
    """A term and how often it occurs."""

    term: str
    count: int


class GapsOut(BaseModel):
    """Queries with no good answer: the knowledge the organisation lacks."""

    count: int
    share: float = Field(description="Share of all queries.")
    top_terms: list[TermOut] = Field(description="Most frequent terms of those queries.")
    examples: list[str]


class CrossFunctionalOut(BaseModel):
    """How often whoknows connects people across departments."""

    recommended_share: float = Field(
        description="Share of recommended colleagues in another department than the asker."
    )
    recommended_cross: int
    recommended_known: int = Field(description="Recommendations where both departments are known.")
    contacted_share: float = Field(
        description="Share of contacted colleagues in another department than the asker."
    )
    contacted_cross: int
    contacted_known: int


class ExpertLoadOut(BaseModel):
    """How one expert is asked."""

    person_id: str
    times_recommended: int


class LoadOut(BaseModel):
    """How the recommendations spread over the experts."""

    top: list[ExpertLoadOut]
    gini: float = Field(description="0: everyone recommended equally; near 1: a few carry all.")


class AnalyticsOut(BaseModel):
    """Use of the service over a time window."""

    start: str
    end: str
    queries: int
    knowledge_gaps: GapsOut
    click_through_rate: float = Field(description="Share of recommendations with a click.")
    helpful_rate: float | None = Field(description="helpful / (helpful + not helpful).")
    cross_functional: CrossFunctionalOut
    load: LoadOut
    coverage: float = Field(description="Share of people recommended at least once.")

    @classmethod
    def of(cls, report: Analytics) -> AnalyticsOut:
        """From the store's analytics."""
        return cls(
            start=report.start.isoformat(),
            end=report.end.isoformat(),
            queries=report.queries,
            knowledge_gaps=GapsOut(
                count=report.gaps.count,
                share=report.gaps.share,
                top_terms=[TermOut(term=t, count=c) for t, c in report.gaps.top_terms],
                examples=list(report.gaps.examples),
            ),
            click_through_rate=report.click_through_rate,
            helpful_rate=report.helpful_rate,
            cross_functional=CrossFunctionalOut(**dataclasses.asdict(report.cross_functional)),
            load=LoadOut(
                top=[ExpertLoadOut(person_id=p, times_recommended=n) for p, n in report.load.top],
                gini=report.load.gini,
            ),
            coverage=report.coverage,
        )
