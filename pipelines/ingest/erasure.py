"""Erasure on request: people whose id hash is on the erasure list leave every build.

The store keeps only the sha256 of an erased person's id (``pipelines.store``);
ingestion hashes each id it meets and drops the matches: the person record and
every mention in documents (authors and contributions). The documents stay, since
they are the organisation's; their text is not rewritten.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import NamedTuple

from models.records import Document, Person
from pipelines.store.records import person_hash


class Erased(NamedTuple):
    """Records without the erased people, and how many distinct people they were."""

    documents: list[Document]
    people: list[Person]
    erased: int


def erase_people(
    documents: Sequence[Document], people: Sequence[Person], hashes: Collection[str]
) -> Erased:
    """Drop the people whose id hash is in ``hashes`` from people and documents.

    Args:
        documents: checked documents.
        people: checked people.
        hashes: sha256 hex digests of erased person ids.
    """
    if not hashes:
        return Erased(list(documents), list(people), 0)
    wanted = set(hashes)
    # Every id named anywhere, hashed once: authors need not be in the people files.
    named = {p.id for p in people} | {
        person for d in documents for person in (*d.authors, *(c.person for c in d.contributions))
    }
    erased = {person for person in named if person_hash(person) in wanted}
    if not erased:
        return Erased(list(documents), list(people), 0)
    kept_people = [p for p in people if p.id not in erased]
    kept_documents = []
    for document in documents:
        authors = tuple(a for a in document.authors if a not in erased)
        contributions = tuple(c for c in document.contributions if c.person not in erased)
        if authors != document.authors or contributions != document.contributions:
            document = replace(document, authors=authors, contributions=contributions)
        kept_documents.append(document)
    return Erased(kept_documents, kept_people, len(erased))
