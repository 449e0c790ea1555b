"""Ingestion: read documents and people from files, check them, report what was skipped."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.arrays import Progress
from models.records import Document, Person
from pipelines.exceptions import IngestError
from pipelines.ingest import files
from pipelines.ingest.erasure import erase_people
from pipelines.ingest.limits import Limits
from pipelines.ingest.records import People, RecordError, parse_document, parse_person
from pipelines.ingest.report import IngestReport, Problem
from pipelines.ingest.tabular import read_csv, read_jsonl

JSONL = frozenset({".jsonl", ".ndjson", ".json"})
CSV = frozenset({".csv"})


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The records that passed, and the report of those that did not."""

    documents: list[Document]
    people: list[Person]
    report: IngestReport

    def raise_if_skipped(self) -> None:
        """For --strict: fail if anything at all was skipped.

        Raises:
            IngestError: listing the first problems.
        """
        if self.report.skipped:
            first = "\n".join(f"  {p}" for p in self.report.skipped[:10])
            more = len(self.report.skipped) - 10
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise IngestError(f"strict mode: {self.report.summary()}\n{first}{tail}")


def run(
    documents: Sequence[Path],
    people: Sequence[Path] = (),
    *,
    erased: Collection[str] = (),
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Read, check and de-duplicate documents and people.

    Args:
        documents: JSONL files in the normalised format, folders of Markdown, text,
            HTML and PDF files, or single such files.
        people: JSONL or CSV files of people.
        erased: sha256 hashes of the ids of people erased on request (the
            ``erasure`` entries of ``Store.suppressed()``); they are dropped from
            people and documents.
        limits: how large one document may be, and whether a larger one is
            skipped or truncated (params.yaml ``ingest``; the defaults if None).
        progress: told (what, done, total) as folders are read.

    Raises:
        IngestError: a path does not exist or has an unsupported format, or no
            document at all could be ingested.
    """
    limits = limits or Limits()
    report = IngestReport()
    registry = People()
    first_seen: dict[str, str] = {}
    for path in people:
        _read_people(Path(path), registry, report, first_seen, limits)
    if not people:
        report.warn(
            Problem("(people)", "no people", "no people file given: authors are not checked")
        )
    seen: dict[str, str] = {}
    kept: list[Document] = []
    checker = registry if people else None
    for path in documents:
        for document, where in _read_documents(Path(path), checker, report, limits, progress):
            first = seen.get(document.id)
            if first is not None:
                source, _, line = where.partition(":")
                report.skip(
                    Problem(
                        source,
                        "duplicate id",
                        f"duplicate id {document.id!r}, first seen at {first}; ids must be unique",
                        line=int(line) if line else None,
                        field="id",
                    )
                )
                continue
            seen[document.id] = where
            kept.append(document)
    kept_people = list(registry.by_id.values())
    kept, kept_people, report.erased = erase_people(kept, kept_people, erased)
    report.documents = len(kept)
    report.people = len(kept_people)
    if not kept:
        problems = "; ".join(str(p) for p in report.skipped[:3])
        raise IngestError(
            "no documents could be ingested from "
            + ", ".join(str(p) for p in documents)
            + (f" ({problems})" if problems else "")
        )
    return IngestResult(kept, kept_people, report)


def _read_people(
    path: Path, registry: People, report: IngestReport, first_seen: dict[str, str], limits: Limits
) -> None:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise IngestError(f"people file {path} does not exist")
    if suffix in CSV:
        rows = read_csv(path, report)
    elif suffix in JSONL:
        rows = read_jsonl(path, report, limits)
    else:
        raise IngestError(f"people file {path}: use JSONL (.jsonl) or CSV (.csv), not {suffix!r}")
    for line, raw in rows:
        try:
            person = parse_person(raw)
        except RecordError as exc:
            report.skip(Problem(str(path), exc.kind, str(exc), line=line, field=exc.field))
            continue
        if person.id in registry.by_id:
            report.skip(
                Problem(
                    str(path),
                    "duplicate id",
                    f"duplicate person id {person.id!r}, first seen at {first_seen[person.id]}",
                    line=line,
                    field="id",
                )
            )
            continue
        first_seen[person.id] = f"{path}:{line}"
        registry.add(person)


def _read_documents(
    path: Path,
    people: People | None,
    report: IngestReport,
    limits: Limits,
    progress: Progress | None,
) -> list[tuple[Document, str]]:
    """Documents of one path with where each came from (``file:line`` or ``file``)."""
    if not path.exists():
        raise IngestError(f"documents path {path} does not exist")
    out: list[tuple[Document, str]] = []
    if path.is_dir():
        found, ignored = files.find_files(path)
        report.ignored_files.update(ignored)
        for file, default_id in files.iter_folder(path, found, progress):
            document = _from_file(file, default_id, people, report, limits)
            if document is not None:
                out.append((document, str(file)))
        return out
    suffix = path.suffix.lower()
    if suffix in JSONL:
        for line, raw in read_jsonl(path, report, limits):
            try:
                document, cut = _fit(parse_document(raw, people), limits)
            except RecordError as exc:
                report.skip(Problem(str(path), exc.kind, str(exc), line=line, field=exc.field))
                continue
            if cut is not None:
                report.warn(Problem(str(path), "truncated", cut, line=line, field="text"))
            out.append((document, f"{path}:{line}"))
        return out
    if suffix in files.SUPPORTED:
        document = _from_file(path, path.name, people, report, limits)
        return [(document, str(path))] if document is not None else []
    supported = ", ".join(sorted(JSONL | files.SUPPORTED))
    raise IngestError(
        f"documents path {path}: unsupported file type {suffix!r}; use {supported}, or a folder"
    )


def _from_file(
    path: Path, default_id: str, people: People | None, report: IngestReport, limits: Limits
) -> Document | None:
    try:
        raw, unknown, notes = files.read_file(path, default_id, limits)
        document, cut = _fit(parse_document(raw, people, default_id=default_id), limits)
    except RecordError as exc:
        report.skip(Problem(str(path), exc.kind, str(exc), field=exc.field))
        return None
    if cut is not None:
        notes.append(("truncated", cut))
    for kind, message in notes:
        field = "text" if kind == "truncated" else None
        report.warn(Problem(str(path), kind, message, field=field))
    for name in unknown:
        known = ", ".join(sorted(files.FRONT_MATTER_FIELDS))
        report.warn(
            Problem(
                str(path),
                "unknown field",
                f"front-matter field {name!r} is not used (known fields: {known})",
                field=name,
            )
        )
    return document


def _fit(document: Document, limits: Limits) -> tuple[Document, str | None]:
    """The document within the size limits, and a warning if it was cut to them.

    Raises:
        RecordError: it is over a limit, and the limits say to skip it.
    """
    try:
        text, cut = limits.fit(document.text)
    except RecordError as exc:
        raise RecordError(exc.kind, f"document {document.id!r}: {exc}", exc.field) from None
    if cut is None:
        return document, None
    return dataclasses.replace(document, text=text), f"document {document.id!r}: {cut}"
