"""The pairs mentor matching scores (models.mentoring): every learner's wants against
every mentor's work, over the documents of one visibility, computed once and kept.

The pool is the visible documents (invisible ones weigh nothing), then the
declared ``can_mentor`` topics; the wanted items are the asked documents, then the
declared ``wants_to_learn`` topics. models.mentoring turns one person's side of
these pairs into ranked, explained matches.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse

from models.arrays import Ids, Mask, Matrix, Vectors
from models.records import Document, Person

if TYPE_CHECKING:
    from models.recommender import Recommender

Goal = Literal["learn", "mentor"]

#: How many of the most similar documents each wanted item spreads over.
DOCUMENTS_PER_WANT = 100
#: Softmax temperature over their cosine similarity to the wanted item.
TEMPERATURE = 0.1
#: The least fit (the share of a learner's wants the mentor covers) that lists a learner
#: for a mentor: the softmax reaches every document a little, which is no reason.
MIN_FIT = 0.01
#: The learner's own wants' share of their interest; the rest is their department's.
OWN_WANTS = 0.5
#: How many documents a declared ``can_mentor`` topic is worth.
DECLARED_PRIOR = 3.0
#: How many asked questions a declared ``wants_to_learn`` topic is worth.
DECLARED_WANT = 3.0
#: Documents and topics shown per match.
EVIDENCE_PER_MATCH = 3
TOPICS_PER_MATCH = 3
_FLOOR = 1e-12
_CACHED_VISIBILITIES = 16


@dataclass(frozen=True, slots=True)
class Pairs:
    """One person's side of every pair; ``support`` is the fit before its log."""

    support: Matrix
    fit: Matrix
    reciprocity: Matrix
    eligible: Mask


@dataclass(frozen=True, slots=True)
class Why:
    """What stands behind one pair: ``documents`` behind the learner's own wants, or
    (``department``) the mentor's documents of the learner's department."""

    evidence: tuple[Document, ...]
    topics: tuple[str, ...]
    documents: int
    history: int
    declared: tuple[str, ...]
    department: str | None

    def sentence(self, learner: Person, mentor: Person, goal: Goal, loaded: bool) -> str:
        """The reason, told from the side of the person who asked for matches."""
        documents = _count(self.documents, "document")
        topics = ", ".join(self.topics)
        parts = []
        if self.department is not None:
            parts.append(f"one of the most active in {self.department} ({documents} there)")
        elif self.documents and goal == "learn":
            parts.append(
                f"answers about {topics} ({documents}) where {learner.name} asked"
                if topics
                else f"wrote {documents} close to what {learner.name} asked"
            )
        elif self.documents:
            parts.append(
                f"asked about {topics} where {mentor.name} wrote {documents}"
                if topics
                else f"asked what {mentor.name} wrote {documents} about"
            )
        if self.history:
            parts.append(
                f"{'' if goal == 'learn' else mentor.name + ' '}answered {learner.name}"
                f" {_count(self.history, 'time')} before"
            )
        if self.declared:
            parts.append(f"{mentor.name} offers to mentor {', '.join(self.declared)}")
        if loaded:
            parts.append(f"{mentor.name} has been asked much lately")
        text = "; ".join(parts) or f"{mentor.name}'s work is close to what {learner.name} asks"
        return text[0].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class Declared:
    """Declared topics, encoded once per recommender: texts, their people's rows, vectors."""

    mentor_topics: tuple[str, ...]
    mentor_rows: Ids
    mentor_vectors: Vectors
    want_rows: Ids
    want_vectors: Vectors

    @classmethod
    def of(cls, recommender: Recommender) -> Declared:
        people = recommender.people
        mentor = [(t, i) for i, p in enumerate(people) for t in p.can_mentor if t.strip()]
        want = [(t, i) for i, p in enumerate(people) for t in p.wants_to_learn if t.strip()]
        texts = [t for t, _ in mentor + want]
        vectors = (
            recommender.encoder.encode_queries(texts)
            if texts
            else np.zeros((0, recommender.document_vectors().shape[1]), dtype=np.float32)
        )
        return cls(
            tuple(t for t, _ in mentor),
            np.array([i for _, i in mentor], dtype=np.int64),
            vectors[: len(mentor)],
            np.array([i for _, i in want], dtype=np.int64),
            vectors[len(mentor) :],
        )


class Space:
    """Every pair's parts over the documents of one visibility.

    The pool is the documents (invisible ones weigh nothing), then the declared
    ``can_mentor`` topics; the wanted items are the asked documents, then the
    declared ``wants_to_learn`` topics.

    Attributes:
        reach: (people, pool) each person's wants spread over the pool (rows sum to 1;
            0 for whoever wants nothing known).
        strength: (pool, people) each person's evidence on each pool row.
        asking: (pool, people) who asked each document.
        background: (departments, people) mean evidence over each department's documents.
        share: each person's own wants' share of their interest (OWN_WANTS, 1, or 0).
        own: each person's strength in what they want.
    """

    def __init__(self, recommender: Recommender, visible: Mask, declared: Declared) -> None:
        self.documents, self.people = recommender.documents, recommender.people
        self.declared = declared
        self.rows = {p.id: i for i, p in enumerate(recommender.people)}
        n_people, n_topics, n_wants = (
            len(self.rows),
            len(declared.mentor_topics),
            len(declared.want_rows),
        )
        evidence = recommender.evidence
        keep = sparse.diags_array(visible.astype(np.float64))
        written = sparse.csr_array(keep @ evidence.evidence.multiply(evidence.writing > 0))
        self.written = sparse.csc_array(written)
        self.asked = sparse.csc_array(keep @ _asked(self.documents, self.rows))
        vectors = recommender.document_vectors()
        pool = np.vstack([vectors, declared.mentor_vectors])
        prior = np.concatenate([visible.astype(np.float64), np.full(n_topics, DECLARED_PRIOR)])
        wanted = np.flatnonzero(np.asarray(self.asked.sum(axis=1)).ravel() > 0)
        self.items = {int(d): k for k, d in enumerate(wanted)}
        self.spread = _spread(np.vstack([vectors[wanted], declared.want_vectors]), pool, prior)
        declared_wants = sparse.csr_array(
            (np.full(n_wants, DECLARED_WANT), (declared.want_rows, np.arange(n_wants))),
            shape=(n_people, n_wants),
        )
        wants = sparse.hstack([sparse.csr_array(self.asked.T)[:, wanted], declared_wants])
        totals = np.asarray(wants.sum(axis=1)).ravel()
        self.reach = sparse.csr_array(sparse.diags_array(_inverse(totals)) @ wants @ self.spread)
        topics = sparse.csr_array(
            (np.ones(n_topics), (np.arange(n_topics), declared.mentor_rows)),
            shape=(n_topics, n_people),
        )
        self.strength = sparse.csc_array(sparse.vstack([written, topics]))
        self.asking = sparse.csc_array(
            sparse.vstack([self.asked, sparse.csr_array((n_topics, n_people))])
        )
        in_department = sparse.csr_array(evidence.document_department.T @ keep)
        sizes = np.asarray(in_department.sum(axis=1)).ravel()
        self.background = (sparse.diags_array(_inverse(sizes)) @ in_department @ written).toarray()
        columns = evidence.departments
        self.department = np.array(
            [columns[p.department] if p.department in columns else -1 for p in recommender.people]
        )
        self.department[(self.department >= 0) & (sizes[self.department] == 0)] = -1
        self.document_department = sparse.csr_array(evidence.document_department).indices
        has_wants = totals > 0
        self.share = np.where(has_wants, np.where(self.department >= 0, OWN_WANTS, 1.0), 0.0)
        everyone = np.arange(n_people)
        own_wants = np.asarray(self.reach.multiply(self.strength.T).sum(axis=1)).ravel()
        own_background = self.background[self.department, everyone] * (self.department >= 0)
        self.own = self.share * own_wants + (1.0 - self.share) * own_background

    def pairs(self, row: int, goal: Goal) -> Pairs:
        """The person's side of every pair: as the learner or as the mentor."""
        if goal == "learn":
            reach = self.reach[[row]]
            wants = _dense(reach @ self.strength)
            department = int(self.department[row])
            background = self.background[department] if department >= 0 else 0.0 * wants
            share: Matrix | float = float(self.share[row])
            need = _dense(reach @ self.asking)
            own: Matrix | float = float(self.own[row])
        else:
            wants = _dense(self.reach @ self.strength[:, [row]])
            background = self.background[self.department, row] * (self.department >= 0)
            share, need, own = self.share, _dense(self.reach @ self.asking[:, [row]]), self.own
        support = share * wants + (1.0 - share) * background
        safe = np.maximum(support, _FLOOR)
        gap = np.log(safe / (safe + need)) + np.log(safe / (safe + own))
        eligible = wants >= MIN_FIT  # a real tie to the learner's wants ...
        if goal == "learn":  # ... or, for a learner, to their department
            eligible |= (1.0 - share) * background > 0
        return Pairs(support, np.log(safe), np.where(support > 0, gap, 0.0), eligible)

    def explain(self, learner: int, mentor: int, goal: Goal) -> Why:
        """The evidence, shared topics, document count and history of one pair."""
        n_docs = len(self.documents)
        by_row = _dense(self.reach[[learner]]) * _dense(self.strength[:, [mentor]])
        on_wants, on_topics = by_row[:n_docs], by_row[n_docs:]
        asked = self.asked[:, [learner]].indices
        mentor_docs = self.written[:, [mentor]]
        department = None
        home = int(self.department[learner])
        if on_wants.sum() + on_topics.sum() < MIN_FIT and home >= 0:  # tied by department
            on_wants = _dense(mentor_docs) * (self.document_department == home)
            department = self.people[learner].department
        behind = np.flatnonzero((on_wants > 0) & (on_wants >= MIN_FIT * on_wants.sum()))
        if goal == "learn" or department is not None:
            chosen = behind[np.argsort(-on_wants[behind], kind="stable")]
        else:
            support = self.spread @ _dense(self.strength[:, [mentor]])
            on_asked = {int(d): support[self.items[int(d)]] for d in asked}
            ranked = sorted((-v, d) for d, v in on_asked.items() if v >= MIN_FIT)
            chosen = np.array([d for _, d in ranked], dtype=np.int64)
        tags: Counter[str] = Counter()
        for d in behind:
            tags.update(dict.fromkeys(self.documents[int(d)].tags, float(on_wants[d])))
        wanted_tags = {t for d in asked for t in self.documents[int(d)].tags}
        offered = np.flatnonzero((on_topics > 0) & (on_topics >= MIN_FIT * by_row.sum()))
        declared = tuple(self.declared.mentor_topics[k] for k in offered)
        shared = [t for t, _ in tags.most_common() if t in wanted_tags or not wanted_tags]
        return Why(
            evidence=tuple(self.documents[int(d)] for d in chosen[:EVIDENCE_PER_MATCH]),
            topics=tuple(dict.fromkeys([*declared, *shared]))[:TOPICS_PER_MATCH],
            documents=len(behind),
            history=int(np.count_nonzero(_dense(mentor_docs)[asked] > 0)),
            declared=declared,
            department=department,
        )


class _Cache:
    """Declared topics and the spaces of recent visibilities, for one recommender."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.declared: Declared | None = None
        self.spaces: dict[bytes, Space] = {}


_CACHES: weakref.WeakKeyDictionary[Recommender, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def space_of(recommender: Recommender, visible: Mask) -> Space:
    """The space of a visibility, computed on first use; the latest few are kept."""
    with _CACHES_LOCK:
        cache = _CACHES.setdefault(recommender, _Cache())
    key = np.packbits(visible).tobytes()
    space = cache.spaces.get(key)
    if space is None:
        with cache.lock:  # computed once, even when calls come at the same time
            space = cache.spaces.get(key)
            if space is None:
                if cache.declared is None:
                    cache.declared = Declared.of(recommender)
                space = Space(recommender, visible, cache.declared)
                if len(cache.spaces) >= _CACHED_VISIBILITIES:
                    cache.spaces.pop(next(iter(cache.spaces)))
                cache.spaces[key] = space
    return space


def _asked(documents: Sequence[Document], rows: Mapping[str, int]) -> sparse.csr_array:
    """(documents, people): 1 where the person asked the document's question."""
    cells = sorted(
        {
            (d, rows[c.person])
            for d, document in enumerate(documents)
            for c in document.roles()
            if c.role == "asked" and c.person in rows
        }
    )
    return sparse.csr_array(
        (np.ones(len(cells)), ([d for d, _ in cells], [p for _, p in cells])),
        shape=(len(documents), len(rows)),
    )


def _spread(items: Vectors, pool: Vectors, prior: Matrix) -> sparse.csr_array:
    """(items, pool): each item's softmax over its DOCUMENTS_PER_WANT most similar pool
    rows (cosine / TEMPERATURE, times the row's prior; a row of prior 0 never counts)."""
    k = min(DOCUMENTS_PER_WANT, int(np.count_nonzero(prior)))
    if len(items) == 0 or k == 0:
        return sparse.csr_array((len(items), len(pool)))
    log_prior = np.full(len(prior), -np.inf)
    log_prior[prior > 0] = np.log(prior[prior > 0])
    parts = []
    for start in range(0, len(items), 1024):  # bounded memory on large indexes
        logits = (items[start : start + 1024] @ pool.T).astype(np.float64) / TEMPERATURE
        logits += log_prior
        top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(logits, top, axis=1)
        weights = np.exp(best - best.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        rows = np.repeat(np.arange(len(top)), k)
        parts.append(
            sparse.csr_array((weights.ravel(), (rows, top.ravel())), shape=(len(top), len(pool)))
        )
    return sparse.csr_array(sparse.vstack(parts))


def _inverse(values: Matrix) -> Matrix:
    return np.divide(1.0, values, out=np.zeros(len(values)), where=values > 0)


def _dense(matrix: sparse.sparray) -> Matrix:
    return np.asarray(matrix.toarray(), dtype=np.float64).ravel()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
