"""Evidence of expertise: who contributed to which document, how, and how long ago.

Computed once per build from the documents' contributions. Every quantity is
kept per document (sparse documents x people matrices), so that a query whose
filters exclude documents can leave their evidence out; the common unfiltered
case uses totals computed once.

Evidence ties a person to a document by their role in it and by its age: a
contribution loses half its weight in ``recency_half_life_days`` (with a floor:
old evidence never counts less than ``recency_floor`` of new). Age counts from
the newest document of the same department, so an archive is not all "old".
An undated contribution counts as old: it gets the floor, and no activity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse

from models.arrays import Mask, Matrix
from models.lexical import LexicalIndex
from models.records import Document, Person, parse_date

#: The weight of a role that ``role_weights`` does not name.
UNKNOWN_ROLE_WEIGHT = 0.5
#: Roles at least this strong count as having written the document (Model 1,
#: activity, experience, topics); asking a question does not.
WRITER_MINIMUM = 0.5
ACTIVITY_HALF_LIVES = (7.0, 30.0, 365.0)
#: Roles of an answer in a question thread, and of the answer the asker accepted.
ANSWER_ROLES = frozenset({"answered", "accepted_answer"})
ACCEPTED_ROLE = "accepted_answer"
PEOPLE_LEXICAL_DIR = "people_lexical"
_WRITING_CHARS = 3000


@dataclass(frozen=True, slots=True)
class EvidenceConfig:
    """How contributions become evidence: a view of models.config.RecommenderConfig,
    which holds their defaults (``RecommenderConfig().expertise.evidence``).

    Attributes:
        role_weights: evidence weight of each contribution role.
        recency_half_life_days: age at which evidence counts half (before the floor).
        recency_floor: the least old evidence counts, as a share of new evidence.
    """

    role_weights: Mapping[str, float]
    recency_half_life_days: float
    recency_floor: float

    def role_weight(self, role: str) -> float:
        """The evidence weight of a role (UNKNOWN_ROLE_WEIGHT for one not listed)."""
        return float(self.role_weights.get(role, UNKNOWN_ROLE_WEIGHT))

    def decay(self, age_days: float | None) -> float:
        """The share of its weight that evidence of this age keeps (None: undated)."""
        if age_days is None:
            return self.recency_floor
        kept = 0.5 ** (max(age_days, 0.0) / self.recency_half_life_days)
        return float(self.recency_floor + (1.0 - self.recency_floor) * kept)


class EvidenceIndex:
    """Per-document evidence for every person, and the totals queries need.

    Attributes:
        evidence: (documents, people) role weight x age decay, strongest role per pair.
        shares: the same, each document's row summing to 1 (p(person | document)).
        roles: per document, each contributor's strongest role.
        writing: (documents, people) role weight of writers (no decay).
        recent: per activity half-life, (documents, people) writing x exp decay.
        answers: (documents, people) 1 where the person answered the thread.
        accepted: (documents, people) 1 where the asker accepted their answer.
        departments: department name -> column.
        document_department: (documents, departments) one-hot.
        document_tags: (documents, tags) one-hot.
        lexical: BM25 over each person's writing, for Model 1.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        people: Sequence[Person],
        config: EvidenceConfig,
        lexical: LexicalIndex | None = None,
    ) -> None:
        self.config = config
        rows = {p.id: i for i, p in enumerate(people)}
        names = sorted({d.department or "" for d in documents} | {""})
        self.departments = {name: i for i, name in enumerate(names)}
        tags: dict[str, int] = {}
        newest = _newest_by_department(documents)
        evidence: dict[tuple[int, int], float] = {}
        writing: dict[tuple[int, int], float] = {}
        answers: dict[tuple[int, int], float] = {}
        accepted: dict[tuple[int, int], float] = {}
        written: dict[tuple[int, int], float] = {}
        recent: dict[float, dict[tuple[int, int], float]] = {h: {} for h in ACTIVITY_HALF_LIVES}
        self.roles: list[dict[int, str]] = []
        dated: dict[tuple[int, int], tuple[float, float]] = {}
        for row, document in enumerate(documents):
            now = newest.get(document.department or "")
            best: dict[int, tuple[float, str]] = {}
            for contribution in document.roles():
                person = rows.get(contribution.person)
                if person is None:
                    continue
                strength = config.role_weight(contribution.role)
                when = parse_date(contribution.created or document.created)
                first = _UNDATED if when is None else _days(when)
                written[(row, person)] = min(written.get((row, person), first), first)
                age = _age_days(contribution.created or document.created, now)
                weight = strength * config.decay(age)
                if person not in best or weight > best[person][0]:
                    best[person] = (weight, contribution.role)
                if contribution.role in ANSWER_ROLES:
                    answers[(row, person)] = 1.0
                    if contribution.role == ACCEPTED_ROLE:
                        accepted[(row, person)] = 1.0
                if strength >= WRITER_MINIMUM:
                    writing[(row, person)] = writing.get((row, person), 0.0) + strength
                    if age is not None and when is not None:
                        key = (row, person)
                        strength_then, first_then = dated.get(key, (0.0, _days(when)))
                        dated[key] = (strength_then + strength, min(first_then, _days(when)))
                        for half_life, cells in recent.items():
                            cells[key] = cells.get(key, 0.0) + strength * 0.5 ** (age / half_life)
            for person, (weight, _) in best.items():
                evidence[(row, person)] = weight
            self.roles.append({person: role for person, (_, role) in best.items()})
            for tag in document.tags:
                tags.setdefault(tag, len(tags))
        shape = (len(documents), len(people))
        self.evidence = _sparse(evidence, shape)
        self.shares = row_shares(self.evidence)
        self.writing = _sparse(writing, shape)
        self._written = _sparse(written, shape)
        # Dated writing: its strength, and when it was first written (the same cells).
        self._dated_strength = _sparse({k: v[0] for k, v in dated.items()}, shape)
        self._dated_time = _sparse({k: v[1] for k, v in dated.items()}, shape)
        self.answers = _sparse(answers, shape)
        self.accepted = _sparse(accepted, shape)
        self.recent = {h: _sparse(cells, shape) for h, cells in recent.items()}
        self.document_department = _one_hot(
            [self.departments[d.department or ""] for d in documents], len(names)
        )
        self.tags = tags
        self.document_tags = _sparse(
            {(row, tags[t]): 1.0 for row, d in enumerate(documents) for t in d.tags},
            (len(documents), max(1, len(tags))),
        )
        self._all = _Totals.of(self, None)
        if lexical is None:  # loading an index reads it instead of building it
            lexical = LexicalIndex.build(_writings(documents, len(people), self.writing))
        self.lexical = lexical

    def totals(self, allowed: Mask | None, as_of: datetime | None = None) -> _Totals:
        """People x department activity and experience, and people x tag counts.

        Args:
            allowed: the documents a query may use; None (or all True) for every one.
            as_of: the time the query is asked, for activity as it was then (mined
                judgments of the past); None: as of each department's newest document.
        """
        if as_of is None and (allowed is None or allowed.all()):
            return self._all
        return _Totals.of(self, allowed, as_of)

    def made_before(self, as_of: datetime) -> sparse.csr_array:
        """(documents, people) 1 where the person's first contribution to the document
        came before ``as_of`` (undated ones count as before): a thread asked then
        may have been answered only later, and a query of that moment must not
        see those answers."""
        made = self._written.copy()
        made.data = (made.data < _days(as_of)).astype(np.float64)
        made.eliminate_zeros()
        return sparse.csr_array(made)

    def recent_as_of(self, as_of: datetime, half_life: float) -> sparse.csr_array:
        """(documents, people) dated writing decayed by its age at ``as_of``, as
        ``recent`` is by its age now; writing from ``as_of`` on does not count yet.

        A person's several writings on one document count from the first.
        """
        made = self._dated_time.copy()
        age = _days(as_of) - self._dated_time.data
        made.data = np.where(
            age > 0, self._dated_strength.data * np.exp2(-np.maximum(age, 0.0) / half_life), 0.0
        )
        made.eliminate_zeros()
        return sparse.csr_array(made)


@dataclass(frozen=True, slots=True)
class _Totals:
    """Evidence summed per person over the documents a query may use (log scale)."""

    recent: dict[float, sparse.csr_array]
    experience: sparse.csr_array
    tags: sparse.csc_array
    answers: Matrix
    accepted: Matrix

    @classmethod
    def of(
        cls, index: EvidenceIndex, allowed: Mask | None, as_of: datetime | None = None
    ) -> _Totals:
        made = None if as_of is None else index.made_before(as_of)

        def total(
            per_document: sparse.csr_array, columns: sparse.csr_array, half_life: float = 0.0
        ) -> sparse.csr_array:
            if as_of is not None and half_life:
                per_document = index.recent_as_of(as_of, half_life)
            elif made is not None:
                per_document = sparse.csr_array(per_document.multiply(made))
            if allowed is not None:
                per_document = per_document[allowed]
                columns = columns[allowed]
            summed = sparse.csr_array(per_document.T @ columns)
            summed.data = np.log1p(summed.data)
            return summed

        departments = index.document_department
        return cls(
            recent={h: total(m, departments, h) for h, m in index.recent.items()},
            experience=total(index.writing, departments),
            tags=sparse.csc_array(total(index.writing, index.document_tags)),
            answers=_allowed_sums(_before(index.answers, made), allowed),
            accepted=_allowed_sums(_before(index.accepted, made), allowed),
        )


def row_shares(matrix: sparse.csr_array) -> sparse.csr_array:
    """Each row divided by its sum (an empty row stays empty): p(person | document)."""
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sparse.csr_array(matrix.multiply(inverse[:, None]))


def _before(matrix: sparse.csr_array, made: sparse.csr_array | None) -> sparse.csr_array:
    return matrix if made is None else sparse.csr_array(matrix.multiply(made))


def _allowed_sums(matrix: sparse.csr_array, allowed: Mask | None) -> Matrix:
    """Per person (column), the sum over the allowed documents (rows)."""
    chosen = matrix if allowed is None else matrix[allowed]
    return np.asarray(chosen.sum(axis=0), dtype=np.float64).ravel()


def _writings(documents: Sequence[Document], people: int, writing: sparse.csr_array) -> list[str]:
    """Each person's writing as one text: the title and start of every document they wrote."""
    texts: list[list[str]] = [[] for _ in range(people)]
    for row, document in enumerate(documents):
        for person in writing.indices[writing.indptr[row] : writing.indptr[row + 1]]:
            texts[int(person)].append(f"{document.title}\n{document.text[:_WRITING_CHARS]}")
    return ["\n\n".join(t) for t in texts]


def _sparse(cells: Mapping[tuple[int, int], float], shape: tuple[int, int]) -> sparse.csr_array:
    if not cells:
        return sparse.csr_array(shape, dtype=np.float64)
    keys = list(cells)
    return sparse.csr_array(
        (list(cells.values()), ([r for r, _ in keys], [c for _, c in keys])), shape=shape
    )


def _one_hot(columns: Sequence[int], width: int) -> sparse.csr_array:
    rows = np.arange(len(columns))
    data = np.ones(len(columns))
    return sparse.csr_array(
        (data, (rows, np.asarray(columns, dtype=np.int64))), shape=(len(columns), width)
    )


def _newest_by_department(documents: Sequence[Document]) -> dict[str, datetime]:
    """Each department's newest document date: "now" for the age of its evidence."""
    newest: dict[str, datetime] = {}
    for document in documents:
        when = parse_date(document.created)
        key = document.department or ""
        if when is not None and (key not in newest or when > newest[key]):
            newest[key] = when
    return newest


#: The time of an undated contribution: before any moment.
_UNDATED = -1e12


def _days(when: datetime) -> float:
    """A time as days since the epoch."""
    return (when - datetime(1970, 1, 1)).total_seconds() / 86400.0


def _age_days(created: str | None, now: datetime | None) -> float | None:
    """Days from a contribution to its department's newest document; None if undated."""
    when = parse_date(created)
    if when is None or now is None:
        return None
    return max((now - when).total_seconds() / 86400.0, 0.0)
