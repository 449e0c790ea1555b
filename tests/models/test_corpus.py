from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.corpus import Corpus
from models.exceptions import ArtifactFormatError, ConfigurationError
from models.passages import Span
from models.records import Document, Person, ResourceType


def corpus() -> Corpus:
    documents = [
        Document("a", "A", "alpha text", department="X", type=ResourceType.WIKI),
        Document("b", "B", "beta text", department="Y"),
    ]
    people = [Person("p", "P", department="X"), Person("q", "Q")]
    return Corpus.from_spans(documents, people, [[Span(0, 5), Span(6, 10)], [Span(0, 9)]])


def test_passages_know_their_document_and_text() -> None:
    c = corpus()
    assert c.passages.tolist() == [[0, 0, 5], [0, 6, 10], [1, 0, 9]]
    assert c.passage_body(1) == "text"
    assert c.passage_input(0) == "A\n\nalpha"


def test_masks_follow_departments_and_types() -> None:
    docs, passages, people = corpus().masks(departments=["X"])
    assert docs.tolist() == [True, False]
    assert passages.tolist() == [True, True, False]
    assert people.tolist() == [True, False], (
        "people without a department drop out of a department filter"
    )
    docs, passages, _ = corpus().masks(types=["document"])
    assert docs.tolist() == [False, True]


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="duplicate document id 'a'"):
        Corpus(
            [Document("a", "A", ""), Document("a", "B", "")], [], np.zeros((0, 3), dtype=np.int64)
        )


def test_damaged_files_are_reported(tmp_path: Path) -> None:
    c = corpus()
    c.save(tmp_path)
    (tmp_path / "documents.jsonl").write_text('{"id": "a"}\n{broken\n')
    with pytest.raises(ArtifactFormatError, match="documents.jsonl:2"):
        Corpus.load(tmp_path)
