"""Fixtures of the command-line and pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Two documents by two people: a Markdown folder and a people CSV. Bob's is a case study."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kafka.md").write_text(
        "---\nauthors: [ada]\n---\n# Kafka lag\n\nScale the consumer group.\n"
    )
    (docs / "roof.md").write_text(
        "---\nauthors: [bob]\ntype: case-study\n---\n# Roof\n\nReplace the tiles.\n"
    )
    people = tmp_path / "people.csv"
    people.write_text("id,name,department\nada,Ada,Data\nbob,Bob,Facilities\n")
    return docs, people
