"""The insight responses' shapes: the expertise map, mentor matches, the knowledge-gap
queue and analytics over time (serving.schemas has the rest of the API's)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from models.mentoring import Match
from models.topics import ExpertiseMap
from serving.schemas import AnalyticsOut, ProfileOut


class TopicExpertOut(BaseModel):
    """A person who wrote documents of a topic."""

    id: str
    name: str
    department: str | None
    weight: float = Field(description="Their summed evidence on the topic's documents.")
    documents: int = Field(description="How many of the topic's documents they wrote.")
    active: bool = Field(description="Whether they count as present for the bus factor.")


class TopicDepartmentOut(BaseModel):
    """One department's part in a topic."""

    name: str
    expertise: float = Field(description="Its people's share of the topic's expertise.")
    documents: float = Field(description="Its share of the topic's documents.")


class TopicOut(BaseModel):
    """A topic as the caller may see it."""

    id: int
    label: str = Field(description="Its most distinctive terms, e.g. 'qubit · gate · circuit'.")
    terms: list[str]
    documents: int = Field(description="How many of its documents the caller may see.")
    people: int = Field(description="How many people wrote them.")
    departments: list[TopicDepartmentOut]
    experts: list[TopicExpertOut]
    bus_factor: int = Field(
        description="Experts who would have to leave before most of its documents have no "
        "active expert (0: most have none already)."
    )
    silo: str | None = Field(description="The department holding most of its expertise, if one.")
    fragile: bool = Field(description="Its bus factor is 1.")


class ExpertiseMapOut(BaseModel):
    """The topics of the documents the caller may see, and where expertise sits."""

    documents: int = Field(description="Documents the caller may see.")
    topics: list[TopicOut]
    departments: list[str]
    heat: list[list[float]] = Field(
        description="Departments x topics (in the order of the two lists): each department's "
        "share of each topic's expertise."
    )
    silos: list[int] = Field(description="Ids of the topics one department holds.")
    fragile: list[int] = Field(description="Ids of the topics that hang on one expert.")

    @classmethod
    def of(cls, found: ExpertiseMap) -> ExpertiseMapOut:
        """From the model's map."""
        return cls.model_validate(found.to_dict())


class MatchEvidenceOut(BaseModel):
    """A document behind a match."""

    id: str
    title: str
    url: str | None


class MatchOut(BaseModel):
    """A colleague paired with the person, and why."""

    person: ProfileOut
    score: float = Field(description="Higher is better, within one answer.")
    reason: str = Field(description="Why this pair, in one sentence.")
    topics: list[str] = Field(description="What the pair shares.")
    crosses_department: bool | None = Field(
        description="Whether their department differs from the person's (null: either unknown)."
    )
    signals: dict[str, float] = Field(
        description="fit, reciprocity, capacity, cross_functional (added up to the score); "
        "documents and history (answers given to the learner before), not added."
    )
    evidence: list[MatchEvidenceOut]


class MatchesOut(BaseModel):
    """Mentors for a learner, or learners for a mentor."""

    person_id: str
    goal: str = Field(description="learn: these are mentors; mentor: these are learners.")
    cross_functional: bool
    matches: list[MatchOut]

    @classmethod
    def of(
        cls,
        person_id: str,
        goal: str,
        cross_functional: bool,
        found: Sequence[Match],
        fields: Sequence[str],
    ) -> MatchesOut:
        """From the model's matches, each person with the allowed profile fields only."""
        out = []
        for match in found:
            data = match.to_dict()
            data["person"] = match.person.shown(fields)
            data["crosses_department"] = data.pop("crosses")
            out.append(MatchOut.model_validate(data))
        return cls(person_id=person_id, goal=goal, cross_functional=cross_functional, matches=out)


class AnalyticsSeriesOut(BaseModel):
    """The analytics of consecutive windows, oldest first."""

    step: str = Field(description="hour, day or week.")
    points: list[AnalyticsOut]


class GapEntryOut(BaseModel):
    """Questions that asked the same thing and found neither a good resource nor a
    willing expert."""

    query: str = Field(description="The most recent wording.")
    asked: int = Field(description="How many times it was asked in the window.")
    last_asked: str
    terms: list[str] = Field(description="The content words that make these questions one.")
    departments: list[str] = Field(description="The askers' departments, most frequent first.")
    best_relevance: float | None = Field(description="The best resource relevance found.")
    best_expert_relevance: float | None = Field(
        description="The best evidence relevance of a person shown."
    )
    reasons: list[str] = Field(
        description="no resource, weak resources, resources not helpful, no expert, weak "
        "experts, experts not helpful."
    )


class GapQueueOut(BaseModel):
    """The knowledge-gap queue over a window."""

    start: str
    end: str
    gap_threshold: float = Field(description="A best relevance under this is not good.")
    entries: list[GapEntryOut]
