"""Embedded records: passages and profile vectors, the slow half of a build.

Embedding is the expensive step, and it depends only on the records, the
encoder and the passage size. Keeping it as its own directory lets a pipeline
(DVC) re-index with other ranking parameters without embedding again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Ids, Progress, Vectors
from models.artifact import atomic_directory
from models.corpus import Corpus
from models.encoder import Encoder, encoder_entry
from models.exceptions import ArtifactFormatError, ArtifactNotFoundError
from models.passages import PassageSplitter
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
        report = progress or (lambda stage, done, total: None)
        splitter = PassageSplitter(encoder.token_offsets, passage_tokens, passage_overlap)
        report("split", 0, len(documents))
        title_tokens = encoder.count_tokens([d.title for d in documents])
        budgets = [encoder.info.max_seq_length - 3 - n for n in title_tokens]
        spans = splitter.split([d.text for d in documents], budgets)
        corpus = Corpus.from_spans(documents, people, spans)
        report("split", len(documents), len(documents))
        inputs = [corpus.passage_input(i) for i in range(len(corpus.passages))]
        vectors = encoder.encode_documents(inputs, progress=progress, stage="embed passages")
        profiled = np.array(
            [row for row, p in enumerate(corpus.people) if p.profile_text()], dtype=np.int64
        )
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
