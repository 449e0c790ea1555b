"""The parts of the expertise map that do not depend on the caller, and its two measures.

:func:`index_view` reads what the map needs from an index once (term counts,
writers' evidence, dates, departments); :func:`class_tfidf` and
:func:`top_terms` label topics; :func:`bus_factor` is the greedy truck factor.
Every caller-dependent step (models.topics) only selects rows of these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy import sparse

from models.arrays import Ids, Mask
from models.evidence import WRITER_MINIMUM, EvidenceIndex
from models.records import Document, Person

#: Words of at least two characters that start with a letter (no bare numbers).
TOKENS = r"(?u)\b[^\W\d_][^\W_]+\b"
#: TeX markup (\frac, \rangle, \begin{bmatrix}): not words.
_TEX = re.compile(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+")
_EPOCH = datetime(1970, 1, 1)

Days = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IndexView:
    """What the expertise map reads from an index, whatever the caller.

    Attributes:
        ids: the documents' ids, in row order.
        terms: (documents, vocabulary) counts of each word in title and text.
        vocabulary: the words, sorted (column order).
        expertise: (documents, people) evidence (role x age) of the documents' writers.
        departments: department names ("" for none), sorted.
        document_departments: (documents, departments) one-hot.
        person_departments: (people, departments) one-hot.
        document_department: each document's department column.
        document_days: each document's creation day (days since 1970; NaN: undated).
        writer_documents: the document row of each (document, writer) pair.
        writer_people: the person row of each pair.
        writer_days: the day of each pair's newest written contribution (NaN: undated).
    """

    ids: tuple[str, ...]
    terms: sparse.csr_array
    vocabulary: npt.NDArray[np.str_]
    expertise: sparse.csr_array
    departments: tuple[str, ...]
    document_departments: sparse.csr_array
    person_departments: sparse.csr_array
    document_department: Ids
    document_days: Days
    writer_documents: Ids
    writer_people: Ids
    writer_days: Days

    def active(self, visible: Mask, shown: Mask, active_days: float | None) -> Mask:
        """Which people count as present, judged from the visible documents only.

        A person is present when one of their written contributions to a visible
        document is at most ``active_days`` older than the newest visible activity
        of that document's department. A department without any date cannot age
        anyone: its writers are present; an undated contribution elsewhere is not.

        Args:
            visible: the documents the caller may see.
            shown: the people who are not hidden.
            active_days: the longest absence; None: every shown person is present.
        """
        if active_days is None:
            return shown.copy()
        keep = visible[self.writer_documents] & shown[self.writer_people]
        department = self.document_department[self.writer_documents[keep]]
        days = self.writer_days[keep]
        newest = np.full(len(self.departments), -np.inf)
        rows = np.flatnonzero(visible)
        _latest(newest, self.document_department[rows], self.document_days[rows])
        _latest(newest, department, days)
        reference = newest[department]
        with np.errstate(invalid="ignore"):
            recent = np.isinf(reference) | (reference - days <= active_days)
        present = np.zeros(len(shown), dtype=bool)
        present[self.writer_people[keep][recent]] = True
        return present

    def common_words(self, visible: Mask, share: float) -> Mask:
        """The words in more than ``share`` of the visible documents: they tell no topic
        apart (counted over the visible documents only, so hidden ones decide nothing)."""
        per_entry = np.repeat(visible, np.diff(self.terms.indptr))
        documents = np.bincount(self.terms.indices[per_entry], minlength=len(self.vocabulary))
        return np.asarray(documents > share * max(int(visible.sum()), 1))


def index_view(
    documents: Sequence[Document], people: Sequence[Person], evidence: EvidenceIndex
) -> IndexView:
    """Read the caller-independent parts of the map from an index's records and evidence."""
    terms, vocabulary = _term_counts(documents)
    names = sorted({d.department or "" for d in documents} | {p.department or "" for p in people})
    column = {name: i for i, name in enumerate(names)}
    document_department = np.array([column[d.department or ""] for d in documents], np.int64)
    person_department = np.array([column[p.department or ""] for p in people], np.int64)
    pairs = _writers(documents, {p.id: i for i, p in enumerate(people)}, evidence)
    # Role weights, not aged: evidence ages against each department's newest document,
    # restricted ones included, and a hidden document's date must not move the map.
    # Who has gone is the business of ``active``, which sees visible documents only.
    expertise = sparse.csr_array(evidence.writing)
    return IndexView(
        ids=tuple(d.id for d in documents),
        terms=terms,
        vocabulary=vocabulary,
        expertise=expertise,
        departments=tuple(names),
        document_departments=_one_hot(document_department, len(names)),
        person_departments=_one_hot(person_department, len(names)),
        document_department=document_department,
        document_days=np.array([_day(d.created) for d in documents], dtype=np.float64),
        writer_documents=np.array([d for d, _ in pairs], dtype=np.int64),
        writer_people=np.array([p for _, p in pairs], dtype=np.int64),
        writer_days=np.array(list(pairs.values()), dtype=np.float64),
    )


def class_tfidf(counts: sparse.csr_array) -> sparse.csr_array:
    """c-TF-IDF of (topics, vocabulary) word counts: each word's share of its topic's
    words times log(1 + mean words per topic / the word's count over all topics).

    Topics without words (none visible) neither count in the mean nor get terms.
    """
    counts = sparse.csr_array(counts, dtype=np.float64)
    words = np.asarray(counts.sum(axis=1)).ravel()
    if not (words > 0).any():
        return counts
    average = words[words > 0].mean()
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    ratio = np.divide(average, frequency, out=np.zeros_like(frequency), where=frequency > 0)
    share = np.divide(1.0, words, out=np.zeros_like(words), where=words > 0)
    return sparse.csr_array(
        sparse.diags_array(share) @ counts @ sparse.diags_array(np.log1p(ratio))
    )


def top_terms(
    scores: sparse.csr_array, topic: int, vocabulary: npt.NDArray[np.str_], limit: int
) -> list[str]:
    """A topic's ``limit`` best-scoring words, best first (ties alphabetically: the
    vocabulary is sorted)."""
    start, end = scores.indptr[topic], scores.indptr[topic + 1]
    columns, values = scores.indices[start:end], scores.data[start:end]
    kept = values > 0
    columns, values = columns[kept], values[kept]
    best = np.lexsort((columns, -values))[:limit]
    return [str(vocabulary[c]) for c in columns[best]]


def bus_factor(cover: sparse.csr_array) -> int:
    """How many experts must leave before more than half the documents have none.

    The greedy truck-factor algorithm (Avelino et al. 2016): remove the expert
    of the most documents (ties: the larger evidence, then the first column),
    then the next, until more than half the documents are left without an
    expert; the number removed is the bus factor (0 if most already have none).

    Args:
        cover: (documents, experts) evidence; nonzero where an expert covers a document.
    """
    documents = cover.shape[0]
    if documents == 0:
        return 0
    columns = sparse.csc_array(cover)
    columns.eliminate_zeros()
    remaining = np.bincount(columns.indices, minlength=documents)
    orphans = int((remaining == 0).sum())
    degree = np.diff(columns.indptr)
    weight = np.asarray(columns.sum(axis=0)).ravel()
    removed = 0
    for expert in np.lexsort((np.arange(len(degree)), -weight, -degree)):
        if 2 * orphans > documents:
            break
        covered = columns.indices[columns.indptr[expert] : columns.indptr[expert + 1]]
        remaining[covered] -= 1
        orphans += int((remaining[covered] == 0).sum())
        removed += 1
    return removed


def _term_counts(documents: Sequence[Document]) -> tuple[sparse.csr_array, npt.NDArray[np.str_]]:
    """Word counts of every document's title and text, English stop words left out.

    No word is dropped for being rare or common across documents: that would let
    documents a caller may not see decide which words the caller's labels can use.
    """
    from sklearn.feature_extraction.text import CountVectorizer  # a second at start-up

    vectorizer = CountVectorizer(stop_words="english", token_pattern=TOKENS, dtype=np.float64)
    texts = [_TEX.sub(" ", f"{d.title}\n{d.text}") for d in documents]
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no word at all: an empty vocabulary
        return sparse.csr_array((len(documents), 0)), np.array([], dtype=np.str_)
    return sparse.csr_array(counts), vectorizer.get_feature_names_out().astype(np.str_)


def _writers(
    documents: Sequence[Document], rows: dict[str, int], evidence: EvidenceIndex
) -> dict[tuple[int, int], float]:
    """(document row, person row) of each writer -> the day of their newest written
    contribution (NaN when undated), as models.evidence counts writers."""
    pairs: dict[tuple[int, int], float] = {}
    for row, document in enumerate(documents):
        for contribution in document.roles():
            person = rows.get(contribution.person)
            if person is None or evidence.config.role_weight(contribution.role) < WRITER_MINIMUM:
                continue
            day = _day(contribution.created or document.created)
            pairs[(row, person)] = float(np.fmax(pairs.get((row, person), np.nan), day))
    return pairs


def _latest(newest: Days, departments: Ids, days: Days) -> None:
    """Raise each department's newest day to the dated days given (in place)."""
    dated = ~np.isnan(days)
    np.maximum.at(newest, departments[dated], days[dated])


def _one_hot(columns: Ids, width: int) -> sparse.csr_array:
    return sparse.csr_array(
        (np.ones(len(columns)), (np.arange(len(columns)), columns)),
        shape=(len(columns), max(width, 1)),
    )


def _day(value: str | None) -> float:
    """Days since 1970 of an ISO-8601 date or time (its zone ignored, as models.evidence
    does); NaN if missing or unreadable."""
    if not value:
        return float("nan")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return float("nan")
    return (parsed.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400.0
