"""The recommender: build an index from records, save it, load it, ask it.

Everything the service answers can be had in a notebook::

    from models.recommender import Recommender

    recommender = Recommender.load("data/index/sample")
    answer = recommender.recommend("how do I stake ADA?", limit_people=3)
    for hit in answer.people:
        print(hit.person.name, hit.signals, [e.document.title for e in hit.evidence])

A query goes through two steps, which ranker training also uses, so that what
is trained is what is served: :meth:`Recommender.retrieve` (the documents both
retrievers propose, within the caller's filters and groups), then the resources
ranking (:meth:`Recommender.rank_documents`) and the people ranking
(models.people, whose features :meth:`Recommender.people_candidates` returns).
How the parts are built and read is models.assembly's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

from models import assembly
from models.arrays import Mask, Progress, Vectors
from models.artifact import Manifest, atomic_directory
from models.config import RecommenderConfig
from models.embeddings import Embeddings
from models.encoder import Encoder
from models.evidence import EvidenceIndex
from models.exceptions import (
    InvalidQueryError,
    UnknownPersonError,
    UnknownResourceError,
)
from models.expertise import ExpertiseModel, PeopleCandidates
from models.people import PeopleFinder
from models.ranker import LinearRanker
from models.records import AsOf, Document, Person
from models.results import (
    DEFAULT_LIMIT,
    AuthoredDocument,
    Evidence,
    Filters,
    PersonHit,
    PersonProfile,
    Recommendations,
    ResourceHit,
)
from models.retrieval import DocumentRanking, DocumentRetriever, Retrieval
from models.routing import Asking

#: The most results one call may ask for (the HTTP API allows fewer).
MAX_LIMIT = 1000

_SPACE = re.compile(r"\s+")


#: C0 and C1 control characters (tab and newline included), read as spaces in a query.
CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")


class Recommender:
    """Recommends resources and people for natural-language queries.

    Use :meth:`build` to index records, :meth:`save` to write the index
    directory, and :meth:`load` to read it back.

    Args:
        made: the parts, encoder, parameters and manifest (models.assembly).

    Raises:
        ConfigurationError: a ranker is missing or of the wrong task for the configuration.
    """

    def __init__(self, made: assembly.Assembly) -> None:
        self._made = made
        parts, config = made.parts, made.config
        self._corpus = parts.corpus
        self._encoder = made.encoder
        self._retriever = DocumentRetriever(
            parts.corpus,
            parts.passages,
            parts.lexical,
            parts.titles,
            fusion=config.fusion,
            ranker=parts.rankers.get("resources"),
            depth=config.retrieval_depth,
        )
        self._people = PeopleFinder(
            self._retriever,
            parts.profiles,
            ExpertiseModel(parts.evidence, config.expertise, parts.rankers.get("people")),
            parts.rankers.get("evidence") if config.fusion == "learned" else None,
            [p.department for p in parts.corpus.people],
            config.load_balance,
        )
        hidden = np.array([p.opt_out for p in parts.corpus.people], dtype=bool)
        hidden.flags.writeable = False
        self._hidden = hidden
        self._chat_ids: dict[tuple[str, str], Person] | None = None
        self._document_vectors: Vectors | None = None

    # building and storing

    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        people: Sequence[Person],
        *,
        encoder: Encoder | None = None,
        config: RecommenderConfig | None = None,
        progress: Progress | None = None,
    ) -> Recommender:
        """Split, embed and index documents and people.

        Args:
            documents: the resources; ids must be unique.
            people: the people; ids must be unique.
            encoder: the encoder; the bundled default if None.
            config: build and ranking parameters.
            progress: told about each stage as (stage, done, total).
        """
        config = config or RecommenderConfig()
        assembly.rankers_of(config)  # fail on a bad ranker file before minutes of work
        encoder = encoder or Encoder()
        embeddings = assembly.embed(documents, people, encoder, config, progress)
        return cls.from_embeddings(embeddings, encoder=encoder, config=config, progress=progress)

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Embeddings,
        *,
        encoder: Encoder,
        config: RecommenderConfig | None = None,
        progress: Progress | None = None,
    ) -> Recommender:
        """Index records that are already embedded (the fast half of a build).

        Raises:
            EncoderMismatchError: ``encoder`` is not the one that made the embeddings.
            ConfigurationError: the embeddings were made with another passage size.
        """
        return cls(assembly.assemble(embeddings, encoder, config or RecommenderConfig(), progress))

    def with_rankers(self, rankers: Mapping[str, LinearRanker]) -> Recommender:
        """The same index with other rankers (by task: resources, people, evidence),
        e.g. fitted on the organisation's own history; a new index version."""
        return Recommender(assembly.with_rankers(self._made, rankers))

    def save(self, path: str | Path, extras: Mapping[str, str] | None = None) -> Path:
        """Write the index directory, replacing any previous one all at once.

        Args:
            path: the directory to (re)place.
            extras: more text files to put in it, by file name (e.g. a build report).
        """
        target = Path(path)
        with atomic_directory(target) as tmp:
            for name, content in (extras or {}).items():
                (tmp / name).write_text(content, encoding="utf-8")
            self._made.parts.write(tmp)
            self._made.manifest.write(tmp)
        return target

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        encoder: Encoder | None = None,
        model_path: str | Path | None = None,
    ) -> Recommender:
        """Read an index directory and the encoder it was built with.

        Args:
            path: the index directory.
            encoder: an encoder already loaded; checked against the index.
            model_path: a local model folder to load instead of the index's own.

        Raises:
            ArtifactNotFoundError: no index at ``path``.
            ArtifactFormatError: the directory is damaged or of another format version.
            EncoderMismatchError: the encoder is not the one the index was built with.
            EncoderLoadError: the encoder cannot be loaded.
        """
        model = Path(model_path) if model_path is not None else None
        return cls(assembly.read(Path(path), encoder, model))

    # what the index is

    @property
    def config(self) -> RecommenderConfig:
        """The build and ranking parameters (as saved in the manifest)."""
        return self._made.config

    @property
    def manifest(self) -> Manifest:
        """The description of the build: encoder, counts, data hash, parameters."""
        return self._made.manifest

    @property
    def encoder(self) -> Encoder:
        """The encoder of queries: the one the index's vectors were made with."""
        return self._encoder

    @property
    def index_version(self) -> str:
        """Label of the build: creation time and data hash."""
        return self._made.manifest.index_version

    @property
    def rankers(self) -> Mapping[str, LinearRanker]:
        """The learned rankers in use, by task (resources, people, evidence)."""
        return MappingProxyType(self._made.parts.rankers)

    @property
    def documents(self) -> Sequence[Document]:
        """Every document of the index, hidden or not, in row order."""
        return self._corpus.documents

    @property
    def people(self) -> Sequence[Person]:
        """Every person of the index, hidden or not, in row order."""
        return self._corpus.people

    @property
    def departments(self) -> list[str]:
        """Every department named by a document or a person, sorted."""
        return self._corpus.departments

    @property
    def evidence(self) -> EvidenceIndex:
        """Who did what on each document: (documents, people) weights, roles and writing."""
        return self._made.parts.evidence

    def document_vectors(self) -> Vectors:
        """One unit vector per document (row order): the mean of its passages' vectors,
        normalised; zeros for a document without passages. Computed once, read-only."""
        if self._document_vectors is None:
            stored = self._made.parts.passages
            order = np.argsort(stored.ids(), kind="stable")
            vectors = stored.vectors()[order]
            documents = self._corpus.passages[:, 0]
            sums = np.zeros((len(self._corpus.documents), vectors.shape[1]), dtype=np.float64)
            np.add.at(sums, documents, vectors)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            out = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
            result = out.astype(np.float32)
            result.flags.writeable = False
            self._document_vectors = result
        return self._document_vectors

    def visible_documents(self, groups: tuple[str, ...] | None = None) -> Mask:
        """Which documents (row order) a caller of these groups may see (None: trusted)."""
        return self._corpus.masks((), (), groups)[0]

    def facets(self, groups: tuple[str, ...] | None = None) -> tuple[list[str], list[str]]:
        """The departments and resource types a caller of these groups can filter by
        (None: a trusted caller, who sees everything)."""
        return self._corpus.facets(groups)

    # people and privacy

    def has_person(self, person_id: str) -> bool:
        """Whether the index holds this person (hidden or not)."""
        return person_id in self._corpus.person_rows

    def department_of(self, person_id: str) -> str | None:
        """A person's department; None if unknown, or the index does not hold them."""
        row = self._corpus.person_rows.get(person_id)
        return None if row is None else self._corpus.people[row].department

    def person_by_chat_id(self, platform: str, user_id: str) -> Person | None:
        """The person whose profile names this Slack or Teams user id (``slack_id``,
        ``teams_id``), if any."""
        if self._chat_ids is None:
            self._chat_ids = {
                (name, user): person
                for person in self._corpus.people
                for name, user in (("slack", person.slack_id), ("teams", person.teams_id))
                if user
            }
        return self._chat_ids.get((platform, user_id))

    def shown_people(self) -> dict[str, str | None]:
        """Id and department of everyone who may appear in answers (not hidden)."""
        return {
            p.id: p.department
            for p, hidden in zip(self._corpus.people, self._hidden, strict=True)
            if not hidden
        }

    @property
    def hidden_people(self) -> frozenset[str]:
        """Ids of the people never shown: opted out in their profile or on request."""
        return frozenset(self._corpus.people[int(row)].id for row in np.flatnonzero(self._hidden))

    def is_hidden(self, person_id: str) -> bool:
        """Whether a person is kept out of every answer (False for unknown ids)."""
        row = self._corpus.person_rows.get(person_id)
        return row is not None and bool(self._hidden[row])

    def hide_people(self, person_ids: Iterable[str]) -> int:
        """Keep people out of every later answer: results, evidence, authors, profiles.

        For people who opted out or were erased while the index is served; a
        rebuild leaves erased people out of the index itself. Unknown ids are
        ignored (they may belong to another index).

        Returns:
            How many people were newly hidden.
        """
        known = self._corpus.person_rows
        rows = [known[i] for i in person_ids if i in known]
        hidden = self._hidden.copy()
        before = int(hidden.sum())
        hidden[rows] = True
        hidden.flags.writeable = False
        self._hidden = hidden  # replaced whole, so concurrent queries see old or new
        return int(hidden.sum()) - before

    # the steps of a query

    def retrieve(
        self,
        texts: Sequence[str],
        filters: Filters | None = None,
        *,
        depth: int | None = None,
        as_of: Sequence[AsOf | None] | None = None,
        progress: Progress | None = None,
        stage: str = "candidates",
    ) -> list[Retrieval]:
        """What both retrievers propose for each query, within the filters and groups.

        The first step of :meth:`recommend`; ranker training asks it for many
        queries at once (their vectors are encoded in one batch).

        Args:
            texts: the queries, already cleaned.
            filters: departments, types and the caller's groups.
            depth: how many documents each retriever proposes (the configured depth).
            as_of: per query, the past moment it was asked (mined judgments): only
                documents that existed then, other than those it excludes, answer it.
            progress: told (stage, done, total) after each query.
            stage: the name progress reports use.

        Raises:
            InvalidFilterError: a filter value that the index does not know.
        """
        filters = filters or Filters()
        documents, passages, people = self._corpus.masks(
            filters.departments, filters.types, filters.groups
        )
        hidden = self._hidden
        if hidden.any():
            people = people & ~hidden
        wanted = self._retriever.depth if depth is None else depth
        vectors = self._encoder.encode_queries(list(texts))
        found = []
        for i, text in enumerate(texts):
            vector = vectors[i : i + 1]
            when = as_of[i] if as_of is not None else None
            allowed, shown = (documents, passages)
            if when is not None:
                allowed, shown = self._corpus.as_of(documents, when)
            candidates = self._retriever.candidates(vector, text, allowed, shown, wanted)
            moment = when.before if when is not None else None
            found.append(Retrieval(text, vector, allowed, people, candidates, moment))
            if progress is not None:
                progress(stage, i + 1, len(texts))
        return found

    def rank_documents(
        self,
        retrieval: Retrieval,
        wanted: int,
        *,
        fusion: str | None = None,
        ranker: LinearRanker | None = None,
    ) -> DocumentRanking:
        """The best ``wanted`` candidate documents, by the configured fusion and ranker
        or by the ones given (to compare methods, or to try a ranker being trained)."""
        return self._retriever.fuse(retrieval.candidates, wanted, fusion=fusion, ranker=ranker)

    def people_candidates(
        self, retrieval: Retrieval, evidence_ranker: LinearRanker | None
    ) -> PeopleCandidates:
        """Every candidate person of a query and their features, as the service
        computes them, over documents ordered by ``evidence_ranker`` (None: rrf)."""
        return self._people.candidates(retrieval, evidence_ranker)

    # answers

    def recommend(
        self,
        query: str,
        limit_resources: int = DEFAULT_LIMIT,
        limit_people: int = DEFAULT_LIMIT,
        filters: Filters | None = None,
        asking: Asking | None = None,
    ) -> Recommendations:
        """Resources to read and people to ask about a query.

        Args:
            query: the question.
            limit_resources: how many resources.
            limit_people: how many people.
            filters: departments, types and the caller's groups.
            asking: who asks, whether across functions, and everyone's recent
                exposure (models.routing); None: an anonymous asker, no load.

        Raises:
            InvalidQueryError: blank or too long a query, or a limit out of range.
            InvalidFilterError: a filter value that the index does not know.
        """
        text = self._clean_query(query)
        for name, value in (("limit_resources", limit_resources), ("limit_people", limit_people)):
            if not 0 <= value <= MAX_LIMIT:
                raise InvalidQueryError(f"{name} must be between 0 and {MAX_LIMIT}", field=name)
        depth = max(self._retriever.depth, limit_resources)
        (retrieval,) = self.retrieve([text], filters, depth=depth)
        ranking = self._retriever.fuse(retrieval.candidates, limit_resources)
        resources = tuple(self._resource_hit(ranking, i) for i in range(len(ranking)))
        people: tuple[PersonHit, ...] = ()
        if limit_people:
            asking = asking or Asking()
            documents, persons = self._corpus.documents, self._corpus.people
            rows = self._corpus.person_rows
            exposure = np.zeros(len(persons))
            for person_id, weight in asking.exposure.items():
                if person_id in rows:
                    exposure[rows[person_id]] = weight
            people = tuple(
                PersonHit(
                    person=persons[expert.person],
                    score=expert.score,
                    signals=expert.signals,
                    evidence=tuple(
                        Evidence(documents[v.document], v.relevance, v.contribution, v.role)
                        for v in expert.votes
                    ),
                    crosses=expert.crosses,
                )
                for expert in self._people.rank(
                    retrieval,
                    limit_people,
                    asker=None if asking.asker is None else rows.get(asking.asker),
                    cross_functional=asking.cross_functional,
                    exposure=exposure,
                )
            )
        return Recommendations(text, resources, people, self.index_version)

    def resource(self, resource_id: str, groups: tuple[str, ...] | None = None) -> Document:
        """A resource by id, if the caller's groups may see it (None: a trusted caller).

        Raises:
            UnknownResourceError: no such resource, or one the caller may not see
                (the same error, so that a hidden document's existence is not revealed).
        """
        document = self._corpus.document(resource_id)
        if not document.visible_to(groups):
            raise UnknownResourceError(f"no resource with id {resource_id!r}")
        return document

    def authors(self, document: Document) -> list[Person]:
        """The known, not hidden people among a document's authors, in the document's order."""
        rows, hidden = self._corpus.person_rows, self._hidden
        return [
            self._corpus.people[rows[a]]
            for a in document.authors
            if a in rows and not hidden[rows[a]]
        ]

    def profile(
        self, person_id: str, limit: int = 10, groups: tuple[str, ...] | None = None
    ) -> PersonProfile:
        """A person and their strongest documents that the caller's groups may see.

        Strength is the evidence weight (role and age), then the person's
        quality signal (votes) on the document, then recency.

        Raises:
            UnknownPersonError: no such person, or one who is hidden (opted out, erased).
        """
        person = self._corpus.person(person_id)
        row = self._corpus.person_rows[person_id]
        if self._hidden[row]:
            raise UnknownPersonError(f"no person with id {person_id!r}")
        evidence = self._made.parts.evidence
        column = evidence.evidence[:, [row]].tocsc()
        authored = []
        for doc, weight in zip(column.indices, column.data, strict=True):
            document = self._corpus.documents[int(doc)]
            if not document.visible_to(groups):
                continue
            votes = max(
                (c.score or 0.0 for c in document.roles() if c.person == person_id), default=0.0
            )
            role = evidence.roles[int(doc)].get(row, "author")
            authored.append((float(weight), votes, document.created or "", document, role))
        authored.sort(key=lambda a: (a[0], a[1], a[2]), reverse=True)
        return PersonProfile(
            person,
            tuple(
                AuthoredDocument(doc, weight, role) for weight, _, _, doc, role in authored[:limit]
            ),
        )

    def _clean_query(self, query: str) -> str:
        # Lone surrogates (possible in JSON) cannot be tokenised: replace them; control
        # characters (NUL, escapes) are not words: spaces.
        text = query.encode("utf-8", "replace").decode("utf-8").translate(CONTROLS).strip()
        if not text:
            raise InvalidQueryError(
                "the query is empty (spaces or control characters only); ask a question in words",
                field="query",
            )
        if len(text) > self.config.max_query_chars:
            raise InvalidQueryError(
                f"the query has {len(text)} characters, the limit is "
                f"{self.config.max_query_chars}; shorten it to its key sentences",
                field="query",
            )
        return text

    def _resource_hit(self, ranking: DocumentRanking, i: int) -> ResourceHit:
        body = self._corpus.passage_body(int(ranking.best_passage[i]))
        retrievers = {
            name: int(rank)
            for name, rank in (
                ("dense", ranking.dense_rank[i]),
                ("lexical", ranking.lexical_rank[i]),
            )
            if rank > 0
        }
        if ranking.contributions is not None:
            contributions = ranking.contributions
            signals = {
                n: float(v)
                for n, v in zip(contributions.names, contributions.values[i], strict=True)
            }
        else:
            fusion = self.config.fusion
            signals = {fusion: float(ranking.features.column(fusion)[i])}
        return ResourceHit(
            document=self._corpus.documents[int(ranking.rows[i])],
            score=float(ranking.scores[i]),
            snippet=_snippet(body, self.config.snippet_chars),
            passage=body,
            retrievers=retrievers,
            signals=signals,
            relevance=float(ranking.dense[i]),
        )


def _snippet(text: str, limit: int) -> str:
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"
