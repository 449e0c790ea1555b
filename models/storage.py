"""The files of an index directory: what each part is called, how it is read and checked.

An index directory is plain files (JSON, JSONL, .npy, FAISS, bm25s) plus
manifest.json; models.artifact writes it atomically. Loading reads every part
and refuses a directory whose parts disagree with each other or with the
manifest, so a damaged index fails at start-up rather than answering wrongly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.artifact import Manifest
from models.config import RecommenderConfig
from models.corpus import Corpus
from models.evidence import PEOPLE_LEXICAL_DIR, EvidenceIndex
from models.exceptions import ArtifactFormatError
from models.index import VectorIndex, load_index
from models.lexical import LexicalIndex
from models.ranker import LinearRanker

PASSAGE_INDEX_FILE = "passages.faiss"
PROFILE_INDEX_FILE = "profiles.faiss"
LEXICAL_DIR = "lexical"
TITLES_DIR = "lexical_titles"
RANKER_FILES = {
    "resources": "ranker-resources.json",
    "people": "ranker-people.json",
    "evidence": "ranker-evidence.json",
}


@dataclass(frozen=True, slots=True)
class IndexParts:
    """Everything an index directory holds besides its manifest.

    Attributes:
        corpus: documents, people and passages.
        passages: the passage vectors.
        profiles: the profile vectors.
        lexical: BM25 over documents.
        titles: BM25 over document titles.
        evidence: who contributed what (recomputed at load, but for its BM25 over
            each person's writing, which is saved).
        rankers: the learned rankers the configuration uses, by task.
    """

    corpus: Corpus
    passages: VectorIndex
    profiles: VectorIndex
    lexical: LexicalIndex
    titles: LexicalIndex
    evidence: EvidenceIndex
    rankers: dict[str, LinearRanker]

    def write(self, directory: Path) -> None:
        """Write every part into a (temporary, new) directory."""
        self.corpus.save(directory)
        self.passages.save(directory / PASSAGE_INDEX_FILE)
        self.profiles.save(directory / PROFILE_INDEX_FILE)
        self.lexical.save(directory / LEXICAL_DIR)
        self.titles.save(directory / TITLES_DIR)
        self.evidence.lexical.save(directory / PEOPLE_LEXICAL_DIR)
        for task, ranker in self.rankers.items():
            ranker.save(directory / RANKER_FILES[task])

    @classmethod
    def read(cls, directory: Path, manifest: Manifest, config: RecommenderConfig) -> IndexParts:
        """Read and check every part of an index directory built with ``config``."""
        corpus, passages, profiles = read_vectors(directory, manifest)
        documents = len(corpus.documents)
        rankers = {
            task: LinearRanker.load(directory / name)
            for task, name in RANKER_FILES.items()
            if (directory / name).is_file()
        }
        return cls(
            corpus,
            passages,
            profiles,
            LexicalIndex.load(directory / LEXICAL_DIR, documents),
            LexicalIndex.load(directory / TITLES_DIR, documents),
            EvidenceIndex(
                corpus.documents,
                corpus.people,
                config.expertise.evidence,
                LexicalIndex.load(directory / PEOPLE_LEXICAL_DIR, len(corpus.people)),
            ),
            rankers,
        )


def read_vectors(directory: Path, manifest: Manifest) -> tuple[Corpus, VectorIndex, VectorIndex]:
    """The records, passage index and profile index of an index directory, checked
    against each other and the manifest."""
    dimension = int(manifest.encoder["dimension"])
    corpus = Corpus.load(directory)
    passages = load_index(directory / PASSAGE_INDEX_FILE, manifest.index_kind, dimension)
    profiles = load_index(directory / PROFILE_INDEX_FILE, "flat", dimension)
    check_consistent(directory, manifest, corpus, passages, profiles)
    return corpus, passages, profiles


def check_consistent(
    directory: Path,
    manifest: Manifest,
    corpus: Corpus,
    passages: VectorIndex,
    profiles: VectorIndex,
) -> None:
    """Refuse an index whose files disagree with each other or with the manifest."""
    counts = manifest.counts
    found = {
        "documents": len(corpus.documents),
        "people": len(corpus.people),
        "passages": len(corpus.passages),
        "profiles": len(profiles),
    }
    problems = [
        f"{name}: the manifest says {counts[name]}, the files hold {n}"
        for name, n in found.items()
        if name in counts and counts[name] != n
    ]
    if len(passages) != len(corpus.passages):
        problems.append(f"{len(passages)} passage vectors for {len(corpus.passages)} passages")
    if len(corpus.passages) and int(corpus.passages[:, 0].max()) >= len(corpus.documents):
        problems.append("passages point past the last document")
    if len(profiles) and int(profiles.ids().max()) >= len(corpus.people):
        problems.append("profile vectors point past the last person")
    if problems:
        raise ArtifactFormatError(
            f"the index at {directory} is damaged ({'; '.join(problems)}); rebuild it"
        )


def data_hash(
    corpus: Corpus,
    params: Mapping[str, Any],
    fingerprint: str,
    rankers: Mapping[str, LinearRanker],
) -> str:
    """What makes an index what it is: records, parameters, encoder and rankers, hashed."""
    digest = hashlib.sha256()
    digest.update(fingerprint.encode())
    digest.update(json.dumps(params, sort_keys=True).encode())
    for task in sorted(rankers):
        digest.update(json.dumps(rankers[task].to_dict(), sort_keys=True).encode())
    records = [d.to_dict() for d in corpus.documents] + [p.to_dict() for p in corpus.people]
    for record in records:
        digest.update(json.dumps(record, sort_keys=True).encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()
