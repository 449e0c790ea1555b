"""Ingested records on disk: the output of the ``ingest`` stage, the input of ``embed``.

documents.jsonl and people.jsonl hold the checked records in whoknows' own
form (every field present); ingest-report.json says what was skipped; the
marker processed.json names the format. Written all at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.artifact import atomic_directory, read_jsonl, write_jsonl
from models.exceptions import ArtifactFormatError, ArtifactNotFoundError
from models.records import Document, Person
from pipelines.ingest.pipeline import IngestResult

MARKER = "processed.json"
FORMAT = "whoknows-processed"
DOCUMENTS = "documents.jsonl"
PEOPLE = "people.jsonl"
REPORT = "ingest-report.json"


def save(result: IngestResult, directory: Path) -> Path:
    """Write ingested records into a directory, replacing an earlier one."""
    with atomic_directory(Path(directory)) as tmp:
        write_jsonl(tmp / DOCUMENTS, (d.to_dict() for d in result.documents))
        write_jsonl(tmp / PEOPLE, (p.to_dict() for p in result.people))
        report = json.dumps(result.report.to_dict(), indent=2, ensure_ascii=False)
        (tmp / REPORT).write_text(report + "\n", encoding="utf-8")
        marker = {
            "format": FORMAT,
            "documents": len(result.documents),
            "people": len(result.people),
        }
        (tmp / MARKER).write_text(json.dumps(marker) + "\n")
    return Path(directory)


def load(directory: Path) -> tuple[list[Document], list[Person]]:
    """Read the records of a directory written by :func:`save`."""
    marker = Path(directory) / MARKER
    if not marker.is_file():
        raise ArtifactNotFoundError(
            f"no ingested records at {directory}: {MARKER} is missing; make them with "
            "`whoknows ingest --documents PATH --people PATH --out DIR`"
        )
    try:
        documents = [Document.from_dict(row) for row in read_jsonl(Path(directory) / DOCUMENTS)]
        people = [Person.from_dict(row) for row in read_jsonl(Path(directory) / PEOPLE)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactFormatError(f"the records at {directory} are damaged: {exc}") from exc
    return documents, people
