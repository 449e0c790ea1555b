"""Checking raw records (from JSONL, CSV or front matter) into documents and people.

Every check that fails raises :class:`RecordError` naming the field and saying
what a valid value looks like; the caller reports it with the file and line and
skips the record.

One rule for every list field (authors, tags, allowed_groups; skills, groups,
can_mentor, wants_to_learn): a list of strings, or one string of items separated
by ``,`` ``;`` or ``|`` (all a CSV cell can hold). Anything else, a number, true or
false, a mapping, or a list holding anything but strings, is refused rather than
turned into text, as is an id that is not a string: YAML reads ``id: 0012`` as the
number 10 and ``tags: [yes]`` as true, and their text would not be what was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from models.records import Contribution, Document, Person, ResourceType

DOCUMENT_FIELDS = frozenset(
    {
        "id",
        "title",
        "text",
        "type",
        "department",
        "authors",
        "contributions",
        "tags",
        "url",
        "source",
        "created",
        "allowed_groups",
    }
)
PERSON_FIELDS = frozenset(
    {
        "id",
        "name",
        "title",
        "department",
        "bio",
        "skills",
        "location",
        "opt_out",
        "groups",
        "slack_id",
        "teams_id",
        "can_mentor",
        "wants_to_learn",
    }
)
_LIST_SPLIT = re.compile(r"\s*[;,|]\s*")


class RecordError(ValueError):
    """A record is unusable.

    Attributes:
        kind: short category for the summary.
        field: the field at fault, if one is.
    """

    def __init__(self, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field


class People:
    """The people ingested so far, to resolve document authors by id or by name."""

    def __init__(self) -> None:
        self.by_id: dict[str, Person] = {}
        self._by_name: dict[str, list[str]] = {}

    def add(self, person: Person) -> None:
        """Register a person."""
        self.by_id[person.id] = person
        self._by_name.setdefault(person.name.casefold(), []).append(person.id)

    def __len__(self) -> int:
        return len(self.by_id)

    def resolve(self, value: str, field: str) -> str:
        """The id of a person given by id or, failing that, by a unique full name.

        Raises:
            RecordError: no such person, or the name is shared by several people.
        """
        if value in self.by_id:
            return value
        matches = self._by_name.get(value.casefold(), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise RecordError(
                "ambiguous author",
                f"{value!r} is the name of {len(matches)} people ({', '.join(matches[:3])}); "
                "use the person's id",
                field,
            )
        raise RecordError(
            "unknown author",
            f"unknown person {value!r}: no person has this id or name; add them to the "
            "people file or correct the id",
            field,
        )


def parse_person(data: Mapping[str, Any]) -> Person:
    """A person from a raw record (JSONL object or CSV row)."""
    _check_utf8(data)
    person_id = _required_id(data)
    return Person(
        id=person_id,
        name=_text(data, "name") or person_id,
        title=_text(data, "title") or None,
        department=_text(data, "department") or None,
        bio=_text(data, "bio"),
        skills=tuple(_strings(data, "skills")),
        location=_text(data, "location") or None,
        opt_out=_flag(data, "opt_out"),
        groups=tuple(dict.fromkeys(g.strip() for g in _strings(data, "groups") if g.strip())),
        slack_id=_text(data, "slack_id").strip() or None,
        teams_id=_text(data, "teams_id").strip() or None,
        can_mentor=_topics(data, "can_mentor"),
        wants_to_learn=_topics(data, "wants_to_learn"),
    )


def _topics(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """Declared topics, stripped, each once, in the order given."""
    return tuple(dict.fromkeys(t.strip() for t in _strings(data, name) if t.strip()))


def parse_document(
    data: Mapping[str, Any], people: People | None, *, default_id: str | None = None
) -> Document:
    """A document from a raw record (normalised JSONL or front matter plus body).

    Args:
        data: the raw fields.
        people: known people, to check authors against; None skips that check.
        default_id: the id to use when the record has none (e.g. the file path).
    """
    _check_utf8(data)
    document_id = _required_id(data) if default_id is None or "id" in data else default_id
    title = _text(data, "title")
    text = _text(data, "text")
    if not title.strip() and not text.strip():
        raise RecordError("empty", "the document has neither a title nor any text", "text")
    kind = data.get("type")
    if kind is not None and not isinstance(kind, str):
        raise RecordError("invalid type", f"type must be a string, not {describe(kind)}", "type")
    try:
        resource_type = ResourceType.parse(kind) if kind else ResourceType.DOCUMENT
    except ValueError as exc:
        raise RecordError("invalid type", str(exc), "type") from None
    authors = _strings(data, "authors")
    contributions = _contributions(data)
    if people is not None:
        authors = [people.resolve(a, f"authors[{i}]") for i, a in enumerate(authors)]
        contributions = [
            Contribution(
                people.resolve(c.person, f"contributions[{i}].person"), c.role, c.score, c.created
            )
            for i, c in enumerate(contributions)
        ]
    for contribution in contributions:
        if contribution.person not in authors:
            authors.append(contribution.person)
    url = _text(data, "url") or _text(data, "source")
    return Document(
        id=document_id,
        title=title.strip(),
        text=text,
        type=resource_type,
        department=_text(data, "department").strip() or None,
        authors=tuple(dict.fromkeys(authors)),
        contributions=tuple(contributions),
        tags=tuple(_strings(data, "tags")),
        url=url or None,
        created=_date(data.get("created"), "created"),
        allowed_groups=_groups(data),
    )


def _check_utf8(value: Any) -> None:
    """Refuse text that cannot be written as UTF-8: a JSON escape like \\ud800 on its own.

    Walks nested values without recursion, so a deeply nested value cannot exhaust the stack.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise RecordError(
                    "invalid UTF-8",
                    f"{where or 'a field'} holds an unpaired surrogate escape (such as \\ud800), "
                    "which is not a character; fix the program that wrote the file",
                    where or None,
                ) from None
        elif isinstance(item, Mapping):
            stack.extend(
                (v, f"{where}.{k}" if where else str(k)) for k, v in reversed(list(item.items()))
            )
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))


def _required_id(data: Mapping[str, Any]) -> str:
    value = data.get("id")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(
            "missing id", "the record has no id; every record needs a unique id", "id"
        )
    if not isinstance(value, str):
        hint = ""
        if isinstance(value, int | float | date):
            hint = "; put the id in quotes as written (YAML reads id: 0012 as the number 10)"
        raise RecordError("invalid id", f"id must be a string, not {describe(value)}{hint}", "id")
    return value.strip()


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError("invalid field", f"{name} must be text, not {describe(value)}", name)
    return str(value)


_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n", ""})


def _flag(data: Mapping[str, Any], name: str) -> bool:
    """A yes/no field: a JSON boolean, or text such as true/false, yes/no, 1/0 (CSV)."""
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordError("invalid field", f"{name} must be true or false, not {value!r}", name)


def _strings(data: Mapping[str, Any], name: str) -> list[str]:
    """A list field: a list of strings, or one string of items separated by , ; or |."""
    value = data.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in _LIST_SPLIT.split(value.strip()) if part]
    if not isinstance(value, list):
        raise RecordError(
            "invalid field",
            f"{name} must be a list of strings, or one string separated by , ; or |, "
            f"not {describe(value)}",
            name,
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RecordError(
                "invalid field",
                f"{name}[{index}] must be a string, not {describe(item)}; "
                f"{name} must be a list of strings (put quotes around numbers and yes/no)",
                f"{name}[{index}]",
            )
    return [item.strip() for item in value if item.strip()]


def describe(value: Any) -> str:
    """A value's kind for a message, e.g. ``the number 5`` or ``a mapping``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _groups(data: Mapping[str, Any]) -> tuple[str, ...]:
    """``allowed_groups``: a blank entry is an error, never "everyone" (fail closed)."""
    value = data.get("allowed_groups")
    blank = isinstance(value, str) and value != "" and not value.strip()
    if blank or (
        isinstance(value, list) and any(isinstance(v, str) and not v.strip() for v in value)
    ):
        raise RecordError(
            "invalid field",
            "allowed_groups has a blank group; name the groups, or leave the list empty "
            "to make the document public",
            "allowed_groups",
        )
    return tuple(_strings(data, "allowed_groups"))


def _contributions(data: Mapping[str, Any]) -> list[Contribution]:
    value = data.get("contributions")
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(
            "invalid field", "contributions must be a list of objects", "contributions"
        )
    out = []
    for i, item in enumerate(value):
        where = f"contributions[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("person"), str):
            raise RecordError(
                "invalid field", f'{where} must be an object with a "person" id', where
            )
        score = item.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise RecordError("invalid field", f"{where}.score must be a number", f"{where}.score")
        role = item.get("role") or "author"
        if not isinstance(role, str):
            raise RecordError("invalid field", f"{where}.role must be text", f"{where}.role")
        out.append(
            Contribution(
                person=item["person"],
                role=role,
                score=None if score is None else float(score),
                created=_date(item.get("created"), f"{where}.created"),
            )
        )
    return out


def _date(value: Any, name: str) -> str | None:
    """An ISO-8601 date or datetime, as text; YAML may already have parsed it."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise RecordError(
        "invalid date",
        f"{name} {value!r} is not an ISO-8601 date; write e.g. 2024-05-31 or 2024-05-31T14:00:00",
        name,
    )
