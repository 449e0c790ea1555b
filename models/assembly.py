"""Assembling a recommender's parts: from embedded records (a build) or from an index directory.

models.recommender answers queries; this module makes what it answers from.
A build indexes the vectors (FAISS), the words (BM25) and the evidence of who
did what, and describes the result in a manifest; a load reads the same parts
back and checks them against the manifest and the encoder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Progress
from models.artifact import Manifest
from models.config import RecommenderConfig
from models.embeddings import Embeddings
from models.encoder import Encoder, check_compatible, encoder_entry, recorded_encoder
from models.evidence import EvidenceIndex
from models.exceptions import ArtifactFormatError, ConfigurationError
from models.index import create_index
from models.lexical import LexicalIndex
from models.ranker import LinearRanker, default_ranker
from models.records import Document, Person
from models.retrieval import lexical_texts
from models.storage import IndexParts, data_hash, read_vectors


@dataclass(frozen=True, slots=True)
class Assembly:
    """What a recommender is made of.

    Attributes:
        parts: the indexes, evidence and rankers.
        encoder: the encoder its vectors were made with.
        config: its build and ranking parameters.
        manifest: the description of the build (counts, encoder, version).
    """

    parts: IndexParts
    encoder: Encoder
    config: RecommenderConfig
    manifest: Manifest


def rankers_of(config: RecommenderConfig) -> dict[str, LinearRanker]:
    """The rankers a configuration needs: from its files, or the shipped defaults.

    Raises:
        ConfigurationError: a ranker file cannot be read or is not a ranker.
    """
    rankers = {}
    for name, used, path in (
        ("resources", config.fusion == "learned", config.resource_ranker),
        ("people", config.people_model == "learned", config.people_ranker),
        ("evidence", config.fusion == "learned", config.evidence_ranker),
    ):
        if used:
            rankers[name] = LinearRanker.load(Path(path)) if path else default_ranker(name)
    return rankers


def embed(
    documents: Sequence[Document],
    people: Sequence[Person],
    encoder: Encoder,
    config: RecommenderConfig,
    progress: Progress | None = None,
) -> Embeddings:
    """Split records into passages of the configured size and embed them (the slow half)."""
    return Embeddings.compute(
        documents,
        people,
        encoder,
        passage_tokens=config.passage_tokens,
        passage_overlap=config.passage_overlap,
        progress=progress,
    )


def assemble(
    embeddings: Embeddings,
    encoder: Encoder,
    config: RecommenderConfig,
    progress: Progress | None = None,
) -> Assembly:
    """Index records that are already embedded.

    Raises:
        EncoderMismatchError: ``encoder`` is not the one that made the embeddings.
        ConfigurationError: the embeddings were made with another passage size, or a
            ranker file is bad.
    """
    rankers = rankers_of(config)
    check_compatible(embeddings.encoder, encoder, Path("(embeddings)"))
    check_passage_size(embeddings, config, "embed again with these parameters")
    report = progress or (lambda stage, done, total: None)
    corpus = embeddings.corpus
    passages = create_index(
        config.index_kind,
        encoder.dimension,
        len(corpus.passages),
        config.exact_search_limit,
        config.approximate_index,
    )
    passages.build(embeddings.passage_vectors, np.arange(len(corpus.passages), dtype=np.int64))
    search: dict[str, Any] = {}
    if passages.approximate:
        report("tune search", 0, 1)
        search = passages.tune(config.recall_target)
        report("tune search", 1, 1)
    profiles = create_index("flat", encoder.dimension)
    profiles.build(embeddings.profile_vectors, embeddings.profile_rows)
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
        index_kind=passages.kind,
        params=config.to_dict(),
        search=search,
    )
    parts = IndexParts(corpus, passages, profiles, lexical, titles, evidence, rankers)
    return Assembly(parts, encoder, config, manifest)


def check_passage_size(embeddings: Embeddings, config: RecommenderConfig, remedy: str) -> None:
    """Refuse parameters that would cut passages otherwise than these embeddings did.

    Raises:
        ConfigurationError: another passage size or overlap, with ``remedy`` said.
    """
    made = (embeddings.passage_tokens, embeddings.passage_overlap)
    if made != (config.passage_tokens, config.passage_overlap):
        raise ConfigurationError(
            f"the embeddings were made with passages of {made[0]} tokens overlapping by "
            f"{made[1]}, the parameters ask for {config.passage_tokens} and "
            f"{config.passage_overlap}; {remedy}"
        )


def embeddings_of(directory: Path) -> Embeddings:
    """The embeddings an index directory was assembled from: its records, passages and
    vectors (for an update that embeds only what changed).

    Raises:
        ArtifactNotFoundError, ArtifactFormatError: no readable index there.
    """
    manifest = Manifest.read(directory)
    config = RecommenderConfig.from_dict(manifest.params)
    corpus, passages, profiles = read_vectors(directory, manifest)
    order = np.argsort(passages.ids(), kind="stable")
    return Embeddings(
        corpus,
        np.array(passages.vectors()[order], dtype=np.float32),
        profiles.ids(),
        np.array(profiles.vectors(), dtype=np.float32),
        dict(manifest.encoder),
        config.passage_tokens,
        config.passage_overlap,
    )


def with_rankers(made: Assembly, rankers: Mapping[str, LinearRanker]) -> Assembly:
    """The same index ranking with other rankers (those the configuration uses;
    others are ignored), with its data hash, and so its version, renewed."""
    replaced = {**made.parts.rankers}
    for name, ranker in rankers.items():
        if name in replaced:
            replaced[name] = ranker
    parts = dataclasses.replace(made.parts, rankers=replaced)
    manifest = dataclasses.replace(
        made.manifest,
        data_hash=data_hash(
            parts.corpus, made.config.to_dict(), made.encoder.info.fingerprint, replaced
        ),
    )
    return Assembly(parts, made.encoder, made.config, manifest)


def read(
    directory: Path, encoder: Encoder | None = None, model_path: Path | None = None
) -> Assembly:
    """Read an index directory and the encoder it was built with.

    Args:
        directory: the index directory.
        encoder: an encoder already loaded; checked against the index.
        model_path: a local model folder to load instead of the index's own.

    Raises:
        ArtifactNotFoundError: no index there.
        ArtifactFormatError: the directory is damaged or of another format version.
        EncoderMismatchError: the encoder is not the one the index was built with.
        EncoderLoadError: the encoder cannot be loaded.
    """
    manifest = Manifest.read(directory)
    if encoder is None:
        encoder = recorded_encoder(manifest.encoder, model_path)
    check_compatible(manifest.encoder, encoder, directory)
    for _attempt in range(3):
        config = RecommenderConfig.from_dict(manifest.params)
        parts = IndexParts.read(directory, manifest, config)
        # A rebuild may have replaced the directory while the files were read.
        again = Manifest.read(directory)
        if again == manifest:
            return Assembly(parts, encoder, config, manifest)
        manifest = again
        check_compatible(manifest.encoder, encoder, directory)
    raise ArtifactFormatError(f"the index at {directory} kept changing while it was read")
