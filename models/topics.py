"""The expertise map: the topics of the documents, who knows each, and where that is fragile.

Documents are clustered into topics on their embeddings (k-means over the unit
document vectors, so by cosine), once per build: that is :class:`TopicModel`,
saved as plain files next to the index. :func:`expertise_map` then describes
every topic *for one caller*, from the documents the caller may see and the
people who are not hidden, so that it can be served permission-trimmed:

- **label**: the topic's most distinctive terms by class-based TF-IDF
  (c-TF-IDF, as in BERTopic: a term's share of the topic's words times
  ``log(1 + mean words per topic / the term's frequency over all topics)``),
  English stop words, TeX markup and words of most documents left out;
- **experts**: the people who wrote its documents (authors and answerers;
  asking is not expertise: models.evidence.WRITER_MINIMUM), weighed by their
  role (author and accepted answer weigh most), not aged: evidence ages against
  each department's newest document, and a hidden document's date must not
  move the map (who has left is ``active_days``' business);
- **departments**: each department's share of the topic's expertise and of its
  documents; the topic is a **silo** when one department holds at least
  ``silo_share`` of its expertise;
- **bus factor**: how many experts would have to leave before more than half of
  the topic's documents have no active expert left, by the greedy truck-factor
  algorithm (Avelino et al., ICPC 2016: remove the expert of most documents,
  again and again); **fragile** when it is 1, and 0 when most documents have no
  active expert already.

A person is *active* when one of their written contributions is at most
``active_days`` older than the newest visible activity of that document's
department (as models.evidence ages evidence by department, so that an archive
is not all "old"); undated contributions show no activity.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from models.arrays import Ids, Mask, Matrix, Progress
from models.records import Person
from models.topic_model import TopicConfig, TopicModel
from models.topic_parts import IndexView, bus_factor, class_tfidf, index_view, top_terms

if TYPE_CHECKING:
    from models.recommender import Recommender

__all__ = [
    "ExpertiseMap",
    "Topic",
    "TopicConfig",
    "TopicDepartment",
    "TopicExpert",
    "TopicModel",
    "expertise_map",
    "fit_topics",
]

#: How many of a topic's terms make its label.
LABEL_WORDS = 3
#: The department of people and documents that name none.
NO_DEPARTMENT = "(no department)"
#: A word in more than this share of the visible documents labels no topic (in a
#: forum dump, "answer"; in a wiki, its template's words).
COMMON_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class TopicExpert:
    """A person who wrote documents of a topic.

    Attributes:
        id: the person's id.
        name: their display name.
        department: their department, if known.
        weight: their summed role weights on the topic's documents.
        documents: how many of the topic's documents they wrote.
        active: whether they count as present for the bus factor.
    """

    id: str
    name: str
    department: str | None
    weight: float
    documents: int
    active: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TopicDepartment:
    """One department's part in a topic.

    Attributes:
        name: the department (NO_DEPARTMENT for people and documents without one).
        expertise: its people's share of the topic's expertise (0 to 1).
        documents: its share of the topic's documents (0 to 1).
    """

    name: str
    expertise: float
    documents: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as one caller sees it.

    Attributes:
        id: the topic's number in the model (0 is the largest).
        label: its first terms, e.g. ``"qubit · gate · circuit"``.
        terms: its most distinctive terms, best first.
        documents: how many of its documents the caller may see.
        people: how many people wrote them (not hidden).
        departments: each department's part, largest expertise first.
        experts: the strongest experts, strongest first.
        bus_factor: experts who would have to leave before most documents have no
            active expert (0: most have none already).
        silo: the department holding at least ``silo_share`` of the expertise, if any.
        fragile: the bus factor is 1.
    """

    id: int
    label: str
    terms: tuple[str, ...]
    documents: int
    people: int
    departments: tuple[TopicDepartment, ...]
    experts: tuple[TopicExpert, ...]
    bus_factor: int
    silo: str | None
    fragile: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "label": self.label,
            "terms": list(self.terms),
            "documents": self.documents,
            "people": self.people,
            "departments": [d.to_dict() for d in self.departments],
            "experts": [e.to_dict() for e in self.experts],
            "bus_factor": self.bus_factor,
            "silo": self.silo,
            "fragile": self.fragile,
        }


@dataclass(frozen=True, slots=True)
class ExpertiseMap:
    """Every topic a caller may see, and where each department's expertise lies.

    Attributes:
        topics: the topics with at least one visible document, by id.
        departments: the departments of the heat matrix, sorted.
        heat: departments x topics: each department's share of each topic's expertise.
        documents: how many documents the caller may see.
    """

    topics: tuple[Topic, ...]
    departments: tuple[str, ...]
    heat: tuple[tuple[float, ...], ...]
    documents: int

    def silos(self) -> list[Topic]:
        """The topics one department holds."""
        return [t for t in self.topics if t.silo is not None]

    def fragile(self) -> list[Topic]:
        """The topics that hang on one expert."""
        return [t for t in self.topics if t.fragile]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "documents": self.documents,
            "topics": [t.to_dict() for t in self.topics],
            "departments": list(self.departments),
            "heat": [list(row) for row in self.heat],
            "silos": [t.id for t in self.silos()],
            "fragile": [t.id for t in self.fragile()],
        }


def fit_topics(
    recommender: Recommender, config: TopicConfig, progress: Progress | None = None
) -> TopicModel:
    """Fit the topics of an index's documents, as the topics stage does.

    Only documents everyone may see place and number the topics (restricted ones
    join their nearest topic), so that a restricted document never decides which
    public documents share a topic, nor shows through the topics' numbers; the
    number of topics follows the public documents. Only an index with no public
    document at all is fitted on everything: no caller outside its groups sees
    any topic then.
    """
    public = recommender.visible_documents(())
    return TopicModel.fit(
        recommender.document_vectors(),
        [d.id for d in recommender.documents],
        config,
        fit_on=public if public.any() else None,
        progress=progress,
    )


def expertise_map(
    recommender: Recommender,
    model: TopicModel,
    config: TopicConfig,
    groups: tuple[str, ...] | None = None,
) -> ExpertiseMap:
    """The topics as a caller of these groups sees them (None: a trusted caller).

    Only the documents the caller may see place people in topics or give them
    terms, departments, experts and bus factors; hidden people (opted out,
    erased) are left out of everything. The index's groups-independent parts
    are computed on the first call for a recommender (about a second for
    2,000 documents) and kept with it; later calls take about 0.1 s.

    Raises:
        ArtifactFormatError: the model was fitted on another index's documents.
    """
    view = _view_of(recommender)
    model.check(view.ids, f"index {recommender.index_version}")
    people = recommender.people
    shown = np.array([not recommender.is_hidden(p.id) for p in people], dtype=bool)
    scope = _Scope.of(view, model, recommender.visible_documents(groups), shown, config)
    names = [name or NO_DEPARTMENT for name in view.departments]
    topics = []
    for topic in np.flatnonzero(scope.sizes):
        weights, written = scope.weights[topic], scope.written[topic]
        departments = _departments(scope.expertise[topic], scope.documents[topic], names)
        # People of no known department are no department's silo.
        top = next((d for d in departments if d.name != NO_DEPARTMENT), None)
        factor = bus_factor(scope.covering[scope.starts[topic] : scope.starts[topic + 1]])
        terms = top_terms(scope.terms, int(topic), view.vocabulary, config.label_terms)
        topics.append(
            Topic(
                id=int(topic),
                label=" · ".join(terms[:LABEL_WORDS]) or f"topic {topic}",
                terms=tuple(terms),
                documents=int(scope.sizes[topic]),
                people=int(np.count_nonzero(written)),
                departments=departments,
                experts=tuple(
                    _expert(people[row], weights[row], written[row], scope.active[row])
                    for row in _ranked(weights, written)[: config.experts_per_topic]
                ),
                bus_factor=factor,
                silo=top.name if top is not None and top.expertise >= config.silo_share else None,
                fragile=factor == 1,
            )
        )
    return _assemble(tuple(topics))


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one caller may know of each topic: only visible documents, shown people.

    Attributes:
        sizes: visible documents per topic.
        starts: where each topic's rows start in ``covering``.
        weights: (topics, people) evidence of each writer on each topic.
        written: (topics, people) documents each writer wrote in each topic.
        covering: (visible documents by topic, people) evidence of active writers.
        expertise: (topics, departments) evidence of each department's writers.
        documents: (topics, departments) visible documents of each department.
        terms: (topics, vocabulary) c-TF-IDF, common words left out.
        active: the people who count as present.
    """

    sizes: Ids
    starts: Ids
    weights: Matrix
    written: Matrix
    covering: sparse.csr_array
    expertise: Matrix
    documents: Matrix
    terms: sparse.csr_array
    active: Mask

    @classmethod
    def of(
        cls, view: IndexView, model: TopicModel, visible: Mask, shown: Mask, config: TopicConfig
    ) -> _Scope:
        rows = np.flatnonzero(visible)
        order = rows[np.argsort(model.assignments[rows], kind="stable")]
        sizes = np.bincount(model.assignments[order], minlength=model.count)
        members = sparse.csr_array(
            (np.ones(len(rows)), (model.assignments[rows], rows)),
            shape=(model.count, len(visible)),
        )
        active = view.active(visible, shown, config.active_days)
        evidence = sparse.csr_array(view.expertise @ sparse.diags_array(shown.astype(float)))
        weights = members @ evidence
        kept = sparse.diags_array((~view.common_words(visible, COMMON_SHARE)).astype(float))
        return cls(
            sizes=sizes,
            starts=np.concatenate([[0], np.cumsum(sizes)]),
            weights=weights.toarray(),
            written=(members @ (evidence > 0).astype(float)).toarray(),
            covering=sparse.csr_array(evidence @ sparse.diags_array(active.astype(float)))[order],
            expertise=(weights @ view.person_departments).toarray(),
            documents=(members @ view.document_departments).toarray(),
            terms=class_tfidf(members @ view.terms @ kept),
            active=active,
        )


def _ranked(weights: Matrix, written: Matrix) -> Ids:
    """The rows of a topic's writers, by evidence, then documents written, then row."""
    writers = np.flatnonzero(written)
    return writers[np.lexsort((writers, -written[writers], -weights[writers]))]


def _expert(person: Person, weight: float, documents: float, active: bool) -> TopicExpert:
    return TopicExpert(
        id=person.id,
        name=person.name,
        department=person.department,
        weight=round(float(weight), 4),
        documents=int(documents),
        active=bool(active),
    )


def _departments(
    expertise: npt.NDArray[np.float64], documents: npt.NDArray[np.float64], names: Sequence[str]
) -> tuple[TopicDepartment, ...]:
    """Each department's share of a topic's expertise and documents, largest first."""
    held, total = expertise.sum(), documents.sum()
    shares = [
        TopicDepartment(
            name,
            round(float(expertise[i] / held), 4) if held > 0 else 0.0,
            round(float(documents[i] / total), 4) if total > 0 else 0.0,
        )
        for i, name in enumerate(names)
        if expertise[i] > 0 or documents[i] > 0
    ]
    return tuple(sorted(shares, key=lambda d: (-d.expertise, -d.documents, d.name)))


def _assemble(topics: tuple[Topic, ...]) -> ExpertiseMap:
    """The map: the topics and the department x topic heat matrix of expertise shares."""
    present = sorted({d.name for t in topics for d in t.departments})
    heat = tuple(
        tuple(next((d.expertise for d in t.departments if d.name == name), 0.0) for t in topics)
        for name in present
    )
    return ExpertiseMap(topics, tuple(present), heat, sum(t.documents for t in topics))


_VIEWS: weakref.WeakKeyDictionary[Recommender, IndexView] = weakref.WeakKeyDictionary()
_VIEWS_LOCK = threading.Lock()


def _view_of(recommender: Recommender) -> IndexView:
    """The index's groups-independent parts, computed once per recommender."""
    with _VIEWS_LOCK:
        view = _VIEWS.get(recommender)
    if view is None:
        view = index_view(recommender.documents, recommender.people, recommender.evidence)
        with _VIEWS_LOCK:
            _VIEWS[recommender] = view
    return view
