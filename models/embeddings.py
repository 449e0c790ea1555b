"""Embedded records: passages and profile vectors, the slow half of a build.

Embedding is the expensive step, and it depends only on the records, the
encoder and the passage size. Keeping it as its own directory lets a pipeline
(DVC) re-index with other ranking parameters without embedding again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Ids, Progress, Vectors
from models.artifact import atomic_directory
from models.corpus import Corpus
from models.encoder import Encoder, encoder_entry
from models.exceptions import ArtifactFormatError, ArtifactNotFoundError, ConfigurationError
from models.onnx_backend import TORCH
from models.passages import PassageSplitter, Span
from models.records import Document, Person

FORMAT = "whoknows-embeddings"
FORMAT_VERSION = 1
MANIFEST = "embeddings.json"
PASSAGE_VECTORS = "passage_vectors.npy"
PROFILE_ROWS = "profile_rows.npy"
PROFILE_VECTORS = "profile_vectors.npy"


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Records split into passages, and the vectors of passages and profiles.

    Attributes:
        corpus: documents, people and passage spans.
        passage_vectors: one unit vector per passage, in corpus order.
        profile_rows: rows of the people who have a profile text.
        profile_vectors: their profile vectors.
        encoder: the encoder's manifest entry (name, fingerprint, dimension, path).
        passage_tokens: passage size used.
        passage_overlap: passage overlap used.
    """

    corpus: Corpus
    passage_vectors: Vectors
    profile_rows: Ids
    profile_vectors: Vectors
    encoder: dict[str, Any]
    passage_tokens: int
    passage_overlap: int

    @classmethod
    def compute(
        cls,
        documents: Sequence[Document],
        people: Sequence[Person],
        encoder: Encoder,
        *,
        passage_tokens: int,
        passage_overlap: int,
        progress: Progress | None = None,
    ) -> Embeddings:
        """Split documents into passages and embed passages and profiles."""
        spans = _split(documents, encoder, passage_tokens, passage_overlap, progress)
        corpus = Corpus.from_spans(documents, people, spans)
        inputs = [corpus.passage_input(i) for i in range(len(corpus.passages))]
        vectors = encoder.encode_documents(inputs, progress=progress, stage="embed passages")
        profiled = _profiled(corpus.people)
        profile_vectors = encoder.encode_documents(
            [corpus.people[row].profile_text() for row in profiled],
            progress=progress,
            stage="embed profiles",
        )
        return cls(
            corpus,
            vectors,
            profiled,
            profile_vectors,
            encoder_entry(encoder),
            passage_tokens,
            passage_overlap,
        )

    def update(
        self,
        documents: Sequence[Document],
        people: Sequence[Person],
        encoder: Encoder,
        progress: Progress | None = None,
    ) -> tuple[Embeddings, Changes]:
        """These embeddings brought up to new records, embedding only what changed.

        A document whose title and text are unchanged keeps its passages and their
        vectors (its other fields are taken from the new record); a person whose
        profile text is unchanged keeps their profile vector. Everything else is split
        and embedded as :meth:`compute` would, so the result is what ``compute`` gives
        for the new records: the same passages in the same order, the same vectors.

        Raises:
            ConfigurationError: ``encoder`` is not the one these embeddings were made
                with (a full build is needed then).
        """
        if (self.encoder.get("fingerprint"), self.encoder.get("backend", TORCH)) != (
            encoder.info.fingerprint,
            encoder.backend,
        ):
            raise ConfigurationError(
                f"the index was embedded by {self.encoder.get('name')!r} "
                f"({self.encoder.get('backend', TORCH)}), the update would use "
                f"{encoder.info.name!r} ({encoder.backend}): build it in full instead"
            )
        old = self.corpus
        old_passages = _passages_by_document(old)
        kept: dict[int, int] = {}  # new document row -> old document row
        for row, document in enumerate(documents):
            was = old.document_rows.get(document.id)
            if was is not None and _same_text(old.documents[was], document):
                kept[row] = was
        fresh = [row for row in range(len(documents)) if row not in kept]
        fresh_spans = _split(
            [documents[row] for row in fresh],
            encoder,
            self.passage_tokens,
            self.passage_overlap,
            progress,
        )
        spans: list[list[Span]] = [[] for _ in documents]
        for row, was in kept.items():
            spans[row] = [Span(int(a), int(b)) for _, a, b in old.passages[old_passages[was]]]
        for row, made in zip(fresh, fresh_spans, strict=True):
            spans[row] = made
        corpus = Corpus.from_spans(documents, people, spans)
        vectors = np.empty((len(corpus.passages), self.passage_vectors.shape[1]), np.float32)
        new_passages = _passages_by_document(corpus)
        to_embed: list[int] = []
        for row, rows in enumerate(new_passages):
            if row in kept:
                vectors[rows] = self.passage_vectors[old_passages[kept[row]]]
            else:
                to_embed.extend(rows.tolist())
        if to_embed:
            inputs = [corpus.passage_input(i) for i in to_embed]
            vectors[to_embed] = encoder.encode_documents(
                inputs, progress=progress, stage="embed passages"
            )
        profiled = _profiled(corpus.people)
        old_profiles = {
            old.people[row].id: (old.people[row].profile_text(), vector)
            for row, vector in zip(self.profile_rows, self.profile_vectors, strict=True)
        }
        profile_vectors = np.empty((len(profiled), vectors.shape[1]), np.float32)
        new_profiles: list[int] = []
        for at, row in enumerate(profiled):
            person = corpus.people[row]
            text, vector = old_profiles.get(person.id, (None, None))
            if vector is not None and text == person.profile_text():
                profile_vectors[at] = vector
            else:
                new_profiles.append(at)
        if new_profiles:
            profile_vectors[new_profiles] = encoder.encode_documents(
                [corpus.people[profiled[at]].profile_text() for at in new_profiles],
                progress=progress,
                stage="embed profiles",
            )
        changes = Changes.between(old, corpus, len(to_embed), len(new_profiles))
        updated = Embeddings(
            corpus,
            vectors,
            profiled,
            profile_vectors,
            dict(self.encoder),
            self.passage_tokens,
            self.passage_overlap,
        )
        return updated, changes

    def save(self, directory: Path, extras: Mapping[str, str] | None = None) -> Path:
        """Write the embeddings directory, replacing any previous one all at once.

        Args:
            directory: the directory to (re)place.
            extras: more text files to put in it, by file name (e.g. an ingest report).
        """
        with atomic_directory(Path(directory)) as tmp:
            for name, content in (extras or {}).items():
                (tmp / name).write_text(content, encoding="utf-8")
            self.corpus.save(tmp)
            np.save(tmp / PASSAGE_VECTORS, self.passage_vectors, allow_pickle=False)
            np.save(tmp / PROFILE_ROWS, self.profile_rows, allow_pickle=False)
            np.save(tmp / PROFILE_VECTORS, self.profile_vectors, allow_pickle=False)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "encoder": self.encoder,
                "passage_tokens": self.passage_tokens,
                "passage_overlap": self.passage_overlap,
                "counts": {
                    "documents": len(self.corpus.documents),
                    "people": len(self.corpus.people),
                    "passages": len(self.corpus.passages),
                    "profiles": len(self.profile_rows),
                },
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return Path(directory)

    @classmethod
    def load(cls, directory: Path) -> Embeddings:
        """Read an embeddings directory written by :meth:`save`."""
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise ArtifactNotFoundError(
                f"no embeddings at {directory}: {MANIFEST} is missing; "
                "make them with `whoknows embed --processed DIR --out DIR`"
            )
        try:
            manifest = json.loads(path.read_text())
            if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
                raise ArtifactFormatError(
                    f"{path} is not a whoknows embeddings manifest of version 1"
                )
            corpus = Corpus.load(Path(directory))
            vectors = np.load(Path(directory) / PASSAGE_VECTORS, allow_pickle=False)
            rows = np.load(Path(directory) / PROFILE_ROWS, allow_pickle=False)
            profiles = np.load(Path(directory) / PROFILE_VECTORS, allow_pickle=False)
            embeddings = cls(
                corpus,
                vectors.astype(np.float32),
                rows.astype(np.int64),
                profiles.astype(np.float32),
                dict(manifest["encoder"]),
                int(manifest["passage_tokens"]),
                int(manifest["passage_overlap"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactFormatError(f"the embeddings at {directory} are damaged: {exc}") from exc
        if len(vectors) != len(corpus.passages) or len(rows) != len(profiles):
            raise ArtifactFormatError(
                f"the embeddings at {directory} are damaged: vector counts do not match"
            )
        return embeddings


@dataclass(frozen=True, slots=True)
class Changes:
    """What an update found between the indexed records and the new ones.

    Attributes:
        documents_added, documents_changed, documents_removed, documents_unchanged:
            documents by id, compared by their whole record.
        people_added, people_changed, people_removed: people likewise.
        passages_embedded: passages embedded (or taken from the cache) anew.
        profiles_embedded: profile texts embedded anew.
    """

    documents_added: int
    documents_changed: int
    documents_removed: int
    documents_unchanged: int
    people_added: int
    people_changed: int
    people_removed: int
    passages_embedded: int
    profiles_embedded: int

    @classmethod
    def between(cls, old: Corpus, new: Corpus, passages: int, profiles: int) -> Changes:
        docs = _compare(old.documents, new.documents)
        people = _compare(old.people, new.people)
        return cls(*docs, *people[:3], passages, profiles)

    @property
    def any(self) -> bool:
        """Whether anything differs from the indexed records."""
        return bool(
            self.documents_added
            + self.documents_changed
            + self.documents_removed
            + self.people_added
            + self.people_changed
            + self.people_removed
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _compare(
    old: Sequence[Document] | Sequence[Person], new: Sequence[Document] | Sequence[Person]
) -> tuple[int, int, int, int]:
    """(added, changed, removed, unchanged) records, by id and whole content."""
    before = {record.id: record for record in old}
    after = {record.id: record for record in new}
    changed = sum(1 for key, record in after.items() if key in before and before[key] != record)
    added = sum(1 for key in after if key not in before)
    removed = sum(1 for key in before if key not in after)
    return added, changed, removed, len(after) - added - changed


def _split(
    documents: Sequence[Document],
    encoder: Encoder,
    passage_tokens: int,
    passage_overlap: int,
    progress: Progress | None,
) -> list[list[Span]]:
    """Each document's passages, leaving room for its title within the encoder's window."""
    report = progress or (lambda stage, done, total: None)
    splitter = PassageSplitter(encoder.token_offsets, passage_tokens, passage_overlap)
    report("split", 0, len(documents))
    title_tokens = encoder.count_tokens([d.title for d in documents])
    budgets = [encoder.info.max_seq_length - 3 - n for n in title_tokens]
    spans = splitter.split([d.text for d in documents], budgets)
    report("split", len(documents), len(documents))
    return spans


def _profiled(people: Sequence[Person]) -> Ids:
    """Rows of the people who have a profile text to embed."""
    return np.array([row for row, p in enumerate(people) if p.profile_text()], dtype=np.int64)


def _passages_by_document(corpus: Corpus) -> list[Ids]:
    """For each document row, the rows of its passages, in order."""
    owners = corpus.passages[:, 0]
    order = np.argsort(owners, kind="stable")
    bounds = np.searchsorted(owners[order], np.arange(len(corpus.documents) + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(len(corpus.documents))]


def _same_text(old: Document, new: Document) -> bool:
    """Whether a document's passages and their vectors can be kept: they depend on its
    title and text only."""
    return old.title == new.title and old.text == new.text
