"""The records of an index and their passages, with lookups and filter masks.

The vector index knows passages only by number; the corpus knows which
document each passage belongs to, where in its text it lies, and which
documents and people a filter lets through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.arrays import Mask
from models.artifact import read_jsonl, write_jsonl
from models.exceptions import (
    ArtifactFormatError,
    ConfigurationError,
    InvalidFilterError,
    UnknownPersonError,
    UnknownResourceError,
)
from models.passages import Span
from models.records import AsOf, Document, Person, ResourceType, parse_date

#: departments, types, and the caller's groups (None: sees everything)
_MaskKey = tuple[frozenset[str], frozenset[str], frozenset[str] | None]

DOCUMENTS_FILE = "documents.jsonl"
PEOPLE_FILE = "people.jsonl"
PASSAGES_FILE = "passages.npy"


class Corpus:
    """Documents, people and passages, addressed by row number.

    Args:
        documents: the resources; ids must be unique.
        people: the people; ids must be unique.
        passages: (n, 3) int64 rows of (document row, start char, end char);
            a passage's id in the vector index is its row here.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        people: Sequence[Person],
        passages: npt.NDArray[np.int64],
    ) -> None:
        self.documents = list(documents)
        self.people = list(people)
        self.passages = passages
        self.document_rows = _unique_rows((d.id for d in self.documents), "document")
        self.person_rows = _unique_rows((p.id for p in self.people), "person")
        self._masks: dict[_MaskKey, tuple[Mask, Mask, Mask]] = {}

    @classmethod
    def from_spans(
        cls, documents: Sequence[Document], people: Sequence[Person], spans: Sequence[list[Span]]
    ) -> Corpus:
        """A corpus whose passages are the given spans of each document, in order."""
        rows = [(doc, s.start, s.end) for doc, doc_spans in enumerate(spans) for s in doc_spans]
        passages = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return cls(documents, people, passages)

    def passage_body(self, passage: int) -> str:
        """The part of the document text that a passage covers."""
        doc, start, end = (int(x) for x in self.passages[passage])
        return self.documents[doc].text[start:end]

    def passage_input(self, passage: int) -> str:
        """What the encoder reads for a passage: the document title, then the passage."""
        document = self.documents[int(self.passages[passage, 0])]
        body = self.passage_body(passage).strip()
        title = document.title.strip()
        return f"{title}\n\n{body}" if title and body else title or body

    def document(self, document_id: str) -> Document:
        """A document by id.

        Raises:
            UnknownResourceError: no such document.
        """
        row = self.document_rows.get(document_id)
        if row is None:
            raise UnknownResourceError(f"no resource with id {document_id!r}")
        return self.documents[row]

    def person(self, person_id: str) -> Person:
        """A person by id.

        Raises:
            UnknownPersonError: no such person.
        """
        row = self.person_rows.get(person_id)
        if row is None:
            raise UnknownPersonError(f"no person with id {person_id!r}")
        return self.people[row]

    @cached_property
    def departments(self) -> list[str]:
        """Every department named by a document or a person, sorted."""
        names = {d.department for d in self.documents} | {p.department for p in self.people}
        return sorted(n for n in names if n)

    def as_of(self, documents: Mask, when: AsOf) -> tuple[Mask, Mask]:
        """The documents (and their passages) among ``documents`` that existed at a
        past moment: created strictly before ``when.before`` (undated ones are kept,
        there is no telling) and not one of ``when.exclude``."""
        allowed = documents.copy()
        if when.before is not None:
            allowed &= ~(self._created >= when.before.replace(tzinfo=UTC).timestamp())
        for document_id in when.exclude:
            row = self.document_rows.get(document_id)
            if row is not None:
                allowed[row] = False
        passages = allowed[self.passages[:, 0]] if len(self.passages) else np.zeros(0, dtype=bool)
        return allowed, passages

    @cached_property
    def _created(self) -> npt.NDArray[np.float64]:
        """Each document's creation time in epoch seconds (UTC); NaN if undated."""
        times = [parse_date(d.created) for d in self.documents]
        return np.array(
            [np.nan if t is None else t.replace(tzinfo=UTC).timestamp() for t in times],
            dtype=np.float64,
        )

    @cached_property
    def _document_departments(self) -> npt.NDArray[np.object_]:
        return np.array([d.department for d in self.documents], dtype=object)

    @cached_property
    def _document_types(self) -> npt.NDArray[np.object_]:
        return np.array([d.type.value for d in self.documents], dtype=object)

    @cached_property
    def _person_departments(self) -> npt.NDArray[np.object_]:
        return np.array([p.department for p in self.people], dtype=object)

    def masks(
        self,
        departments: Iterable[str] = (),
        types: Iterable[str] = (),
        groups: Iterable[str] | None = None,
    ) -> tuple[Mask, Mask, Mask]:
        """Which documents, passages and people a filter lets through.

        Documents must match both the departments and the types given (an empty
        list means no restriction) and be visible to the caller's groups (None: a
        trusted caller; empty: public documents only); people must belong to one of
        the departments. Unknown groups are not an error: they simply open nothing.

        Raises:
            InvalidFilterError: a department or type that the index does not know.
        """
        key: _MaskKey = (
            frozenset(departments),
            frozenset(types),
            None if groups is None else frozenset(groups),
        )
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        visible = None if key[2] is None else self._visible(key[2])
        self._check_filter(
            key[0], self._departments_seen(visible), "filters.departments", "department"
        )
        self._check_filter(key[1], [t.value for t in ResourceType], "filters.types", "type")
        docs = np.ones(len(self.documents), dtype=bool)
        people = np.ones(len(self.people), dtype=bool)
        if key[0]:
            wanted = list(key[0])
            docs &= np.isin(self._document_departments, wanted)
            people &= np.isin(self._person_departments, wanted)
        if key[1]:
            docs &= np.isin(self._document_types, list(key[1]))
        if visible is not None:
            docs &= visible
        passages = docs[self.passages[:, 0]] if len(self.passages) else np.zeros(0, dtype=bool)
        for mask in (docs, passages, people):
            mask.flags.writeable = False  # shared by every query with this filter
        if len(self._masks) > 256:
            self._masks.clear()
        self._masks[key] = (docs, passages, people)
        return docs, passages, people

    def facets(self, groups: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
        """The departments and resource types a caller of these groups can filter by.

        Departments as for an error message (of people, and of documents they may
        see); types of the documents they may see, in ResourceType order.
        """
        visible = None if groups is None else self._visible(frozenset(groups))
        shown = (
            self.documents
            if visible is None
            else [d for d, seen in zip(self.documents, visible, strict=True) if seen]
        )
        present = {d.type for d in shown}
        return self._departments_seen(visible), [t.value for t in ResourceType if t in present]

    def _departments_seen(self, visible: Mask | None) -> list[str]:
        """The departments a caller may know of: of people, and of documents they may see.

        A department named only by restricted documents is not revealed to outsiders
        (not even by an error message listing the departments).
        """
        if visible is None or visible.all():
            return self.departments
        names = {p.department for p in self.people} | {
            d.department for d, shown in zip(self.documents, visible, strict=True) if shown
        }
        return sorted(n for n in names if n)

    @cached_property
    def _restricted(self) -> list[int]:
        return [row for row, d in enumerate(self.documents) if d.allowed_groups]

    def _visible(self, groups: frozenset[str]) -> Mask:
        """Documents a caller of these groups may see: public ones and those shared with them."""
        visible = np.ones(len(self.documents), dtype=bool)
        for row in self._restricted:
            visible[row] = self.documents[row].visible_to(groups)
        return visible

    @staticmethod
    def _check_filter(values: frozenset[str], known: list[str], field: str, what: str) -> None:
        unknown = sorted(values - set(known))
        if unknown:
            listed = ", ".join(repr(k) for k in known[:20]) + (" ..." if len(known) > 20 else "")
            raise InvalidFilterError(
                f"unknown {what} {', '.join(repr(u) for u in unknown)}; "
                f"this index knows: {listed or 'none'}",
                field=field,
            )

    def save(self, directory: Path) -> None:
        """Write documents.jsonl, people.jsonl and passages.npy into a directory."""
        write_jsonl(directory / DOCUMENTS_FILE, (d.to_dict() for d in self.documents))
        write_jsonl(directory / PEOPLE_FILE, (p.to_dict() for p in self.people))
        np.save(directory / PASSAGES_FILE, self.passages, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Corpus:
        """Read a corpus written by :meth:`save`."""
        try:
            documents = [Document.from_dict(row) for row in read_jsonl(directory / DOCUMENTS_FILE)]
            people = [Person.from_dict(row) for row in read_jsonl(directory / PEOPLE_FILE)]
            passages = np.load(directory / PASSAGES_FILE, allow_pickle=False)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ArtifactFormatError(f"the index at {directory} is damaged: {exc}") from exc
        if passages.ndim != 2 or passages.shape[1] != 3:
            raise ArtifactFormatError(f"{directory / PASSAGES_FILE} has shape {passages.shape}")
        try:
            return cls(documents, people, passages.astype(np.int64))
        except ConfigurationError as exc:
            raise ArtifactFormatError(f"the index at {directory} is damaged: {exc}") from exc


def _unique_rows(ids: Iterable[str], what: str) -> dict[str, int]:
    rows: dict[str, int] = {}
    for row, item in enumerate(ids):
        if item in rows:
            raise ConfigurationError(f"duplicate {what} id {item!r}")
        rows[item] = row
    return rows
