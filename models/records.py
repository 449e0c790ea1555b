"""The records whoknows recommends: resources (documents) and people.

These are plain, already-validated values. Parsing and checking raw input
(JSONL, CSV, Markdown, PDF) is the ingestion pipeline's job; the recommender
trusts what it is given.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ResourceType(StrEnum):
    """What kind of resource a document is."""

    DOCUMENT = "document"
    WIKI = "wiki"
    REPORT = "report"
    BEST_PRACTICE = "best-practice"
    CASE_STUDY = "case-study"
    COURSE = "course"

    @classmethod
    def parse(cls, value: str) -> ResourceType:
        """Read a type leniently: case, spaces and underscores do not matter.

        Raises:
            ValueError: the value names no known type; the message lists them.
        """
        key = value.strip().lower().replace("_", "-").replace(" ", "-")
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown resource type {value!r}; use one of: {known}") from None


def parse_date(value: str | None) -> datetime | None:
    """An ISO-8601 date or datetime as a naive UTC datetime; None if missing or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class AsOf:
    """A query asked in the past (a judgment mined from history): only what existed
    before it may answer it, as in service at that time.

    Attributes:
        before: documents created at or after this moment did not exist yet
            (naive UTC); None: no time limit.
        exclude: ids of documents left out in any case (the question's own thread).
    """

    before: datetime | None
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Contribution:
    """Who did what on a document.

    Attributes:
        person: the person's id.
        role: what they did, e.g. ``author``, ``asked``, ``answered``, ``accepted_answer``.
        score: a quality signal where the source has one (votes), else None.
        created: ISO-8601 date or datetime of the contribution, if known.
    """

    person: str
    role: str = "author"
    score: float | None = None
    created: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A resource someone may want to read.

    Attributes:
        id: unique, stable id.
        title: short title (may be empty when the text is not).
        text: the full plain text.
        type: the kind of resource.
        department: the organisational unit it belongs to, if known.
        authors: person ids of everyone who contributed.
        contributions: per-person roles, when the source records them; when empty,
            every author counts as a plain ``author``.
        tags: free keywords.
        url: where to read the original.
        created: ISO-8601 date or datetime.
        allowed_groups: groups that may see it; empty means everyone.
    """

    id: str
    title: str
    text: str
    type: ResourceType = ResourceType.DOCUMENT
    department: str | None = None
    authors: tuple[str, ...] = ()
    contributions: tuple[Contribution, ...] = ()
    tags: tuple[str, ...] = ()
    url: str | None = None
    created: str | None = None
    allowed_groups: tuple[str, ...] = ()

    def visible_to(self, groups: tuple[str, ...] | frozenset[str] | None) -> bool:
        """Whether a caller of these groups may see the document (None: a trusted caller)."""
        if groups is None or not self.allowed_groups:
            return True
        return not set(self.allowed_groups).isdisjoint(groups)

    def roles(self) -> list[Contribution]:
        """Each contribution, or a plain ``author`` contribution per author if none are recorded."""
        if self.contributions:
            return list(self.contributions)
        return [Contribution(person=a, role="author", created=self.created) for a in self.authors]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, the inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["type"] = self.type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Rebuild a document written by :meth:`to_dict`."""
        return cls(
            id=data["id"],
            title=data.get("title") or "",
            text=data.get("text") or "",
            type=ResourceType(data.get("type") or ResourceType.DOCUMENT.value),
            department=data.get("department"),
            authors=_strings(data, "authors"),
            contributions=tuple(Contribution(**c) for c in data.get("contributions") or ()),
            tags=_strings(data, "tags"),
            url=data.get("url"),
            created=data.get("created"),
            allowed_groups=_strings(data, "allowed_groups"),
        )


#: Person fields an answer can show besides the id (the service's settings pick among them).
PROFILE_FIELDS = ("name", "title", "department", "location", "bio", "skills")


@dataclass(frozen=True, slots=True)
class Person:
    """A colleague who may know about something.

    Attributes:
        id: unique, stable id.
        name: display name.
        title: job title.
        department: organisational unit.
        bio: free text about their work.
        skills: self-declared skills.
        location: where they work.
        opt_out: they asked not to be recommended: they never appear in results,
            evidence or analytics, though their documents remain resources.
        groups: the groups whose restricted documents they may see when they ask from
            a chat tool (never shown in answers).
        slack_id: their Slack member id (``U...``), when they ask from Slack.
        teams_id: their Microsoft Teams (Azure AD) object id, when they ask from Teams.
        can_mentor: topics they declare they can mentor others in.
        wants_to_learn: topics they declare they want to learn.
    """

    id: str
    name: str
    title: str | None = None
    department: str | None = None
    bio: str = ""
    skills: tuple[str, ...] = field(default=())
    location: str | None = None
    opt_out: bool = False
    groups: tuple[str, ...] = field(default=())
    slack_id: str | None = None
    teams_id: str | None = None
    can_mentor: tuple[str, ...] = field(default=())
    wants_to_learn: tuple[str, ...] = field(default=())

    def profile_text(self) -> str:
        """The text that describes the person's expertise: title, bio and skills.

        The name is left out on purpose: it says nothing about what they know.
        Empty when the profile has nothing to match against.
        """
        parts = [self.title or "", self.bio or ""]
        if self.skills:
            parts.append("Skills: " + ", ".join(self.skills))
        return "\n".join(p.strip() for p in parts if p and p.strip())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, the inverse of :meth:`from_dict`."""
        return asdict(self)

    def shown(self, fields: Collection[str] = PROFILE_FIELDS) -> dict[str, Any]:
        """The id, and those of the PROFILE_FIELDS that ``fields`` allows, as answers show them."""
        values: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "department": self.department,
            "location": self.location,
            "bio": self.bio,
            "skills": list(self.skills),
        }
        return {"id": self.id} | {f: values[f] for f in PROFILE_FIELDS if f in fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Person:
        """Rebuild a person written by :meth:`to_dict`."""
        return cls(
            id=data["id"],
            name=data.get("name") or data["id"],
            title=data.get("title"),
            department=data.get("department"),
            bio=data.get("bio") or "",
            skills=_strings(data, "skills"),
            location=data.get("location"),
            opt_out=bool(data.get("opt_out", False)),
            groups=_strings(data, "groups"),
            slack_id=data.get("slack_id"),
            teams_id=data.get("teams_id"),
            can_mentor=_strings(data, "can_mentor"),
            wants_to_learn=_strings(data, "wants_to_learn"),
        )


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...]:
    """A list field as :meth:`Document.to_dict` writes it.

    Raises:
        TypeError: it is not a list of strings (a string would become its characters).
    """
    value = data.get(name) or ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a list of strings, not {value!r:.80}")
    return tuple(value)
