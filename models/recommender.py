"""The recommender: build an index from records, save it, load it, ask it.

Everything the service answers can be had in a notebook::

    from models.recommender import Recommender

    recommender = Recommender.load("data/index/sample")
    answer = recommender.recommend("how do I stake ADA?", limit_people=3)
    for hit in answer.people:
        print(hit.person.name, hit.signals, [e.document.title for e in hit.evidence])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from models.arrays import Progress
from models.artifact import Manifest, atomic_directory
from models.config import RecommenderConfig
from models.corpus import Corpus
from models.embeddings import Embeddings
from models.encoder import Encoder, check_compatible, encoder_entry, recorded_model_path
from models.evidence import EvidenceIndex
from models.exceptions import (
    ArtifactFormatError,
    ConfigurationError,
    InvalidQueryError,
    UnknownPersonError,
    UnknownResourceError,
)
from models.expertise import PROFILE_CANDIDATES, ExpertiseModel
from models.index import VectorIndex, create_index
from models.lexical import LexicalIndex
from models.ranker import LinearRanker, default_ranker
from models.records import Document, Person
from models.results import (
    AuthoredDocument,
    Evidence,
    Filters,
    PersonHit,
    PersonProfile,
    Recommendations,
    ResourceHit,
)
from models.retrieval import RESOURCE_FEATURES, DocumentRanking, DocumentRetriever, lexical_texts
from models.storage import IndexParts, data_hash

#: The most results one call may ask for (the HTTP API allows fewer).
MAX_LIMIT = 1000

_SPACE = re.compile(r"\s+")


class Recommender:
    """Recommends resources and people for natural-language queries.

    Use :meth:`build` to index records, :meth:`save` to write the index
    directory, and :meth:`load` to read it back.
    """

    def __init__(
        self,
        *,
        encoder: Encoder,
        corpus: Corpus,
        passage_index: VectorIndex,
        profile_index: VectorIndex,
        lexical: LexicalIndex,
        titles: LexicalIndex,
        evidence: EvidenceIndex,
        rankers: Mapping[str, LinearRanker],
        config: RecommenderConfig,
        manifest: Manifest,
    ) -> None:
        self.encoder = encoder
        self.corpus = corpus
        self.passage_index = passage_index
        self.profile_index = profile_index
        self.lexical = lexical
        self.titles = titles
        self.evidence = evidence
        self.rankers = dict(rankers)
        self.config = config
        self.manifest = manifest
        self.retriever = DocumentRetriever(
            corpus,
            passage_index,
            lexical,
            titles,
            fusion=config.fusion,
            ranker=self.rankers.get("resources"),
            depth=config.retrieval_depth,
        )
        self.people_model = ExpertiseModel(evidence, config.expertise, self.rankers.get("people"))
        evidence_ranker = self.rankers.get("evidence")
        if evidence_ranker is not None:
            if evidence_ranker.task != "resources":
                raise ConfigurationError("the evidence ranker must be a resources ranker")
            evidence_ranker.check_features(RESOURCE_FEATURES)
        hidden = np.array([p.opt_out for p in corpus.people], dtype=bool)
        hidden.flags.writeable = False
        self._hidden = hidden

    @property
    def hidden_people(self) -> frozenset[str]:
        """Ids of the people never shown: opted out in their profile or on request."""
        return frozenset(self.corpus.people[int(row)].id for row in np.flatnonzero(self._hidden))

    def is_hidden(self, person_id: str) -> bool:
        """Whether a person is kept out of every answer (False for unknown ids)."""
        row = self.corpus.person_rows.get(person_id)
        return row is not None and bool(self._hidden[row])

    def hide_people(self, person_ids: Iterable[str]) -> int:
        """Keep people out of every later answer: results, evidence, authors, profiles.

        For people who opted out or were erased while the index is served; a
        rebuild leaves erased people out of the index itself. Unknown ids are
        ignored (they may belong to another index).

        Returns:
            How many people were newly hidden.
        """
        rows = [self.corpus.person_rows[i] for i in person_ids if i in self.corpus.person_rows]
        hidden = self._hidden.copy()
        before = int(hidden.sum())
        hidden[rows] = True
        hidden.flags.writeable = False
        self._hidden = hidden  # replaced whole, so concurrent queries see old or new
        return int(hidden.sum()) - before

    @property
    def index_version(self) -> str:
        """Label of the build: creation time and data hash."""
        return self.manifest.index_version

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
        _rankers(config)  # fail on a bad ranker file before minutes of work
        encoder = encoder or Encoder()
        embeddings = Embeddings.compute(
            documents,
            people,
            encoder,
            passage_tokens=config.passage_tokens,
            passage_overlap=config.passage_overlap,
            progress=progress,
        )
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
        config = config or RecommenderConfig()
        rankers = _rankers(config)
        check_compatible(embeddings.encoder, encoder, Path("(embeddings)"))
        made = (embeddings.passage_tokens, embeddings.passage_overlap)
        if made != (config.passage_tokens, config.passage_overlap):
            raise ConfigurationError(
                f"the embeddings were made with passages of {made[0]} tokens overlapping by "
                f"{made[1]}, the parameters ask for {config.passage_tokens} and "
                f"{config.passage_overlap}; embed again with these parameters"
            )
        report = progress or (lambda stage, done, total: None)
        corpus = embeddings.corpus
        passage_index = create_index(config.index_kind, encoder.dimension, len(corpus.passages))
        passage_index.build(
            embeddings.passage_vectors, np.arange(len(corpus.passages), dtype=np.int64)
        )
        profile_index = create_index("flat", encoder.dimension)
        profile_index.build(embeddings.profile_vectors, embeddings.profile_rows)
        report("index words", 0, 1)
        lexical = LexicalIndex.build(lexical_texts(corpus))
        titles = LexicalIndex.build([d.title for d in corpus.documents])
        evidence = EvidenceIndex(corpus.documents, corpus.people, config.expertise.evidence)
        report("index words", 1, 1)
        manifest = Manifest(
            encoder=encoder_entry(encoder),
            counts={
                "documents": len(corpus.documents),
                "people": len(corpus.people),
                "passages": len(corpus.passages),
                "profiles": len(embeddings.profile_rows),
            },
            data_hash=data_hash(corpus, config.to_dict(), encoder.info.fingerprint, rankers),
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            index_kind=passage_index.kind,
            params=config.to_dict(),
        )
        return cls(
            encoder=encoder,
            corpus=corpus,
            passage_index=passage_index,
            profile_index=profile_index,
            lexical=lexical,
            titles=titles,
            evidence=evidence,
            rankers=rankers,
            config=config,
            manifest=manifest,
        )

    def save(self, path: str | Path, extras: Mapping[str, str] | None = None) -> Path:
        """Write the index directory, replacing any previous one all at once.

        Args:
            path: the directory to (re)place.
            extras: more text files to put in it, by file name (e.g. a build report).
        """
        target = Path(path)
        parts = IndexParts(
            self.corpus,
            self.passage_index,
            self.profile_index,
            self.lexical,
            self.titles,
            self.evidence.lexical,
            self.rankers,
        )
        with atomic_directory(target) as tmp:
            for name, content in (extras or {}).items():
                (tmp / name).write_text(content, encoding="utf-8")
            parts.write(tmp)
            self.manifest.write(tmp)
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
        directory = Path(path)
        manifest = Manifest.read(directory)
        if encoder is None:
            encoder = Encoder(model_path or recorded_model_path(manifest.encoder))
        check_compatible(manifest.encoder, encoder, directory)
        for _attempt in range(3):
            parts = IndexParts.read(directory, manifest)
            # A rebuild may have replaced the directory while the files were read.
            again = Manifest.read(directory)
            if again == manifest:
                break
            manifest = again
            check_compatible(manifest.encoder, encoder, directory)
        else:
            raise ArtifactFormatError(f"the index at {directory} kept changing while it was read")
        config = RecommenderConfig.from_dict(manifest.params)
        return cls(
            encoder=encoder,
            corpus=parts.corpus,
            passage_index=parts.passages,
            profile_index=parts.profiles,
            lexical=parts.lexical,
            titles=parts.titles,
            evidence=EvidenceIndex(
                parts.corpus.documents,
                parts.corpus.people,
                config.expertise.evidence,
                parts.people_lexical,
            ),
            rankers=parts.rankers,
            config=config,
            manifest=manifest,
        )

    def recommend(
        self,
        query: str,
        limit_resources: int = 5,
        limit_people: int = 5,
        filters: Filters | None = None,
    ) -> Recommendations:
        """Resources to read and people to ask about a query.

        Raises:
            InvalidQueryError: blank or too long a query, or a limit out of range.
            InvalidFilterError: a filter value that the index does not know.
        """
        text = self._clean_query(query)
        for name, value in (("limit_resources", limit_resources), ("limit_people", limit_people)):
            if not 0 <= value <= MAX_LIMIT:
                raise InvalidQueryError(f"{name} must be between 0 and {MAX_LIMIT}", field=name)
        filters = filters or Filters()
        doc_mask, passage_mask, people_mask = self.corpus.masks(
            filters.departments, filters.types, filters.groups
        )
        hidden = self._hidden
        if hidden.any():
            people_mask = people_mask & ~hidden
        vector = self.encoder.encode_queries([text])
        retriever = self.retriever
        candidates = retriever.candidates(
            vector, text, doc_mask, passage_mask, max(retriever.depth, limit_resources)
        )
        ranking = retriever.fuse(candidates, limit_resources)
        resources = tuple(self._resource_hit(ranking, i) for i in range(len(ranking)))
        people: tuple[PersonHit, ...] = ()
        if limit_people:
            # People are judged by the documents that best match the query itself.
            evidence = self.rankers.get("evidence")
            ranking = retriever.fuse(
                candidates,
                self.config.candidate_documents,
                ranker=evidence if retriever.fusion == "learned" else None,
            )
            profiles = self.profile_index.search(vector, PROFILE_CANDIDATES, allowed=people_mask)
            found = profiles.ids[0] >= 0
            experts = self.people_model.rank(
                ranking,
                text,
                (profiles.ids[0][found], profiles.scores[0][found]),
                people_mask,
                limit_people,
                documents=doc_mask,
            )
            documents = self.corpus.documents
            people = tuple(
                PersonHit(
                    person=self.corpus.people[expert.person],
                    score=expert.score,
                    signals=expert.signals,
                    evidence=tuple(
                        Evidence(documents[v.document], v.relevance, v.contribution, v.role)
                        for v in expert.votes
                    ),
                )
                for expert in experts
            )
        return Recommendations(text, resources, people, self.index_version)

    def resource(self, resource_id: str, groups: tuple[str, ...] | None = None) -> Document:
        """A resource by id, if the caller's groups may see it (None: a trusted caller).

        Raises:
            UnknownResourceError: no such resource, or one the caller may not see
                (the same error, so that a hidden document's existence is not revealed).
        """
        document = self.corpus.document(resource_id)
        if not document.visible_to(groups):
            raise UnknownResourceError(f"no resource with id {resource_id!r}")
        return document

    def authors(self, document: Document) -> list[Person]:
        """The known, not hidden people among a document's authors, in the document's order."""
        rows, hidden = self.corpus.person_rows, self._hidden
        return [
            self.corpus.people[rows[a]]
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
        person = self.corpus.person(person_id)
        row = self.corpus.person_rows[person_id]
        if self._hidden[row]:
            raise UnknownPersonError(f"no person with id {person_id!r}")
        column = self.evidence.evidence[:, [row]].tocsc()
        authored = []
        for doc, weight in zip(column.indices, column.data, strict=True):
            document = self.corpus.documents[int(doc)]
            if not document.visible_to(groups):
                continue
            votes = max(
                (c.score or 0.0 for c in document.roles() if c.person == person_id), default=0.0
            )
            role = self.evidence.roles[int(doc)].get(row, "author")
            authored.append((float(weight), votes, document.created or "", document, role))
        authored.sort(key=lambda a: (a[0], a[1], a[2]), reverse=True)
        return PersonProfile(
            person,
            tuple(
                AuthoredDocument(doc, weight, role) for weight, _, _, doc, role in authored[:limit]
            ),
        )

    def _clean_query(self, query: str) -> str:
        # Lone surrogates (possible in JSON) cannot be tokenised: replace them.
        text = query.encode("utf-8", "replace").decode("utf-8").strip()
        if not text:
            raise InvalidQueryError("the query is empty; ask a question in words", field="query")
        if len(text) > self.config.max_query_chars:
            raise InvalidQueryError(
                f"the query has {len(text)} characters, the limit is "
                f"{self.config.max_query_chars}; shorten it to its key sentences",
                field="query",
            )
        return text

    def _resource_hit(self, ranking: DocumentRanking, i: int) -> ResourceHit:
        body = self.corpus.passage_body(int(ranking.best_passage[i]))
        retrievers = {
            name: int(rank)
            for name, rank in (
                ("dense", ranking.dense_rank[i]),
                ("lexical", ranking.lexical_rank[i]),
            )
            if rank > 0
        }
        if ranking.contributions is not None:
            names = self.rankers["resources"].features
            signals = {
                n: round(float(v), 4) for n, v in zip(names, ranking.contributions[i], strict=True)
            }
        else:
            column = RESOURCE_FEATURES.index(self.config.fusion)
            signals = {self.config.fusion: round(float(ranking.features[i, column]), 4)}
        return ResourceHit(
            document=self.corpus.documents[int(ranking.rows[i])],
            score=float(ranking.scores[i]),
            snippet=_snippet(body, self.config.snippet_chars),
            passage=body,
            retrievers=retrievers,
            signals=signals,
            relevance=float(ranking.dense[i]),
        )


def _rankers(config: RecommenderConfig) -> dict[str, LinearRanker]:
    """The rankers a configuration needs: from its files, or the shipped defaults."""
    rankers = {}
    for name, used, path in (
        ("resources", config.fusion == "learned", config.resource_ranker),
        ("people", config.people_model == "learned", config.people_ranker),
        ("evidence", config.fusion == "learned", config.evidence_ranker),
    ):
        if used:
            rankers[name] = LinearRanker.load(Path(path)) if path else default_ranker(name)
    return rankers


def _snippet(text: str, limit: int) -> str:
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"
