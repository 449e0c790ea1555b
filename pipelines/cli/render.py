"""How command results look in a terminal: tables and JSON."""

from __future__ import annotations

from rich.table import Table

from models.results import Recommendations
from pipelines.cli.common import console, out
from pipelines.ingest import IngestReport


def print_report(report: IngestReport) -> None:
    """The skipped records, warnings and summary of an ingestion."""
    for problem in report.skipped[:20]:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False)
    if len(report.skipped) > 20:
        console.print(f"... and {len(report.skipped) - 20} more (see ingest-report.json)")
    for problem in report.warnings[:10]:
        console.print(f"[dim]warning[/] {problem}", highlight=False)
    if report.ignored_files:
        listed = ", ".join(f"{n} {s}" for s, n in report.ignored_files.most_common())
        console.print(f"[dim]ignored files of unsupported types: {listed}[/]")
    console.print(report.summary(), highlight=False)


def print_answer(answer: Recommendations) -> None:
    """Resources and people as two tables."""
    resources = Table(title=f"What to read: {answer.query[:60]}", title_justify="left")
    for column in ("#", "score", "title", "type", "department", "found by", "id"):
        resources.add_column(column, overflow="fold")
    for rank, hit in enumerate(answer.resources, start=1):
        d = hit.document
        found = ", ".join(f"{name} #{r}" for name, r in hit.retrievers.items())
        resources.add_row(
            str(rank), f"{hit.score:.2f}", d.title, d.type.value, d.department or "", found, d.id
        )
    people = Table(title="Who knows", title_justify="left")
    for column in ("#", "score", "name", "department", "signals", "evidence"):
        people.add_column(column, overflow="fold")
    for rank, expert in enumerate(answer.people, start=1):
        evidence = "\n".join(
            f"{e.document.title} ({e.role}, {e.relevance:.2f})" for e in expert.evidence
        )
        signals = "\n".join(
            f"{name} {value:+.2f}"
            for name, value in sorted(expert.signals.items(), key=lambda s: -abs(s[1]))
        )
        people.add_row(
            str(rank),
            f"{expert.score:.2f}",
            expert.person.name,
            expert.person.department or "",
            signals,
            evidence,
        )
    out.print(resources)
    out.print(people)
    out.print(f"[dim]index {answer.index_version}[/]")
