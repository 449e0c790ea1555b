"""Answers of the MCP tools (serving.mcp) as text an AI assistant can quote.

An assistant passes what a tool returns on to its user, often word for word: each
item is numbered, names its title and a link, and says why it was recommended with
the same evidence and reasons as the HTTP API (serving.schemas) and the chat answers
(serving.integrations.chat). Person fields are limited to WHOKNOWS_PROFILE_FIELDS.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import quote

from models.records import Document, Person
from models.results import PersonHit, PersonProfile, Recommendations, ResourceHit
from serving.integrations.chat import ROLES, person_reason, resource_reason

#: The longest passage quoted in a list of resources (get_resource gives the full text).
PASSAGE_CHARS = 600


def resource_link(base: str, document: Document) -> str:
    """Where a resource is read: its own URL, else the service's record of it."""
    return document.url or f"{base}/v1/resources/{quote(document.id, safe='')}"


def person_link(base: str, person_id: str) -> str:
    """The service's record of a person (profile and documents)."""
    return f"{base}/v1/people/{quote(person_id, safe='')}"


def resources_text(
    recommendation_id: str, result: Recommendations, base: str, fields: Collection[str]
) -> str:
    """Recommended resources, best first, each with its link, passage and reasons; then,
    in short, the colleagues of the same answer."""
    lines = [_heading(recommendation_id, result, "resources")]
    if not result.resources:
        lines.append("No resource you may see matches this question.")
    for rank, hit in enumerate(result.resources, start=1):
        lines += _resource(rank, hit, base)
    if result.people:
        lines.append("Colleagues who know about it (find_experts tells why):")
    for colleague in result.people:
        person = colleague.person
        lines.append(f"- {_name(person, fields)} {person_link(base, person.id)} [id: {person.id}]")
    return "\n".join(lines).rstrip()


def experts_text(
    recommendation_id: str, result: Recommendations, base: str, fields: Collection[str]
) -> str:
    """Recommended colleagues, best first, each with the evidence for them and links; then,
    in short, the resources of the same answer."""
    lines = [_heading(recommendation_id, result, "people")]
    if not result.people:
        lines.append("Nobody's work that you may see matches this question.")
    for rank, hit in enumerate(result.people, start=1):
        lines += _person(rank, hit, base, fields)
    if result.resources:
        lines.append("Also worth reading (find_resources tells why):")
    for resource in result.resources:
        document = resource.document
        lines.append(f"- {document.title} {resource_link(base, document)} [id: {document.id}]")
    return "\n".join(lines).rstrip()


def resource_text(
    document: Document, authors: list[Person], base: str, fields: Collection[str]
) -> str:
    """One resource in full: title, link, type, department, tags, authors and text."""
    shown = [_name(a, fields) for a in authors]
    lines = [
        f"{document.title}",
        f"Link: {resource_link(base, document)}",
        f"Id: {document.id}",
        f"Type: {document.type.value}",
        f"Department: {document.department or 'unknown'}",
    ]
    if document.created:
        lines.append(f"Created: {document.created}")
    if document.tags:
        lines.append(f"Tags: {', '.join(document.tags)}")
    if shown:
        lines.append(f"Authors: {', '.join(shown)}")
    lines += ["", document.text]
    return "\n".join(lines)


def person_text(profile: PersonProfile, base: str, fields: Collection[str]) -> str:
    """One person: the profile fields allowed and their strongest documents, with links."""
    person = profile.person
    shown = person.shown(fields)
    lines = [_name(person, fields), f"Link: {person_link(base, person.id)}", f"Id: {person.id}"]
    for field in ("title", "department", "location", "bio"):
        if shown.get(field):
            lines.append(f"{field.capitalize()}: {shown[field]}")
    if shown.get("skills"):
        lines.append(f"Skills: {', '.join(shown['skills'])}")
    if profile.documents:
        lines += ["", "Their strongest documents that you may see:"]
    for rank, authored in enumerate(profile.documents, start=1):
        document = authored.document
        role = ROLES.get(authored.role, authored.role.replace("_", " "))
        lines.append(
            f"{rank}. {role}: {document.title} ({document.type.value}) "
            f"{resource_link(base, document)} [id: {document.id}]"
        )
    return "\n".join(lines)


def _heading(recommendation_id: str, result: Recommendations, what: str) -> str:
    return (
        f"whoknows {what} for: {result.query}\n"
        f"(recommendation id {recommendation_id}: give it to record_feedback; "
        f"index {result.index_version})\n"
    )


def _resource(rank: int, hit: ResourceHit, base: str) -> list[str]:
    document = hit.document
    passage = " ".join(hit.passage.split())
    if len(passage) > PASSAGE_CHARS:
        passage = passage[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " ..."
    return [
        f"{rank}. {document.title}",
        f"   Link: {resource_link(base, document)}",
        f"   Id: {document.id} | type: {document.type.value} | "
        f"department: {document.department or 'unknown'} | relevance: {hit.relevance:.2f}",
        f'   Passage: "{passage}"',
        f"   Why: {resource_reason(hit)}",
        "",
    ]


def _person(rank: int, hit: PersonHit, base: str, fields: Collection[str]) -> list[str]:
    shown = hit.person.shown(fields)
    about = ", ".join(str(shown[f]) for f in ("title", "department") if shown.get(f))
    lines = [
        f"{rank}. {_name(hit.person, fields)}" + (f" ({about})" if about else ""),
        f"   Link: {person_link(base, hit.person.id)}",
        f"   Id: {hit.person.id}",
        f"   Why: {person_reason(hit)}"
        + ("; in another department than yours" if hit.crosses else ""),
    ]
    if hit.evidence:
        lines.append("   Evidence:")
    total = sum(e.contribution for e in hit.evidence) or 1.0
    for evidence in hit.evidence:
        document = evidence.document
        role = ROLES.get(evidence.role, evidence.role.replace("_", " "))
        lines.append(
            f"   - {role}: {document.title} {resource_link(base, document)} "
            f"(relevance {evidence.relevance:.2f}, {evidence.contribution / total:.0%} of the "
            f"evidence) [id: {document.id}]"
        )
    return [*lines, ""]


def _name(person: Person, fields: Collection[str]) -> str:
    """A person's name where profile fields allow it, else their id."""
    name = person.shown(fields).get("name")
    return f"{name} ({person.id})" if name else person.id
