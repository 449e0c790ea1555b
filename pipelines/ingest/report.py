"""What ingestion skipped, and why, in words a user can act on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    """One record or file that was skipped, or one thing worth a warning.

    Attributes:
        source: the file.
        kind: a short category for the summary, e.g. ``duplicate id``.
        message: what was wrong and what to do about it.
        line: the line of the record in the file, if it has one.
        field: the field at fault, if one is.
    """

    source: str
    kind: str
    message: str
    line: int | None = None
    field: str | None = None

    def where(self) -> str:
        """``file:line`` plus the field, as editors and terminals understand it."""
        place = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{place} [{self.field}]" if self.field else place

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


@dataclass(slots=True)
class IngestReport:
    """Counts of what was kept, and every problem met on the way."""

    documents: int = 0
    people: int = 0
    erased: int = 0
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    ignored_files: Counter[str] = field(default_factory=Counter)

    def skip(self, problem: Problem) -> None:
        """Record a skipped record or file."""
        self.skipped.append(problem)

    def warn(self, problem: Problem) -> None:
        """Record something kept despite a problem (e.g. an unknown field)."""
        self.warnings.append(problem)

    def summary(self) -> str:
        """One line, e.g. ``1,930 documents and 1,317 people ingested, 4 skipped: ...``."""
        line = f"{self.documents:,} documents and {self.people:,} people ingested"
        if self.erased:
            line += f" ({self.erased:,} people erased on request)"
        if not self.skipped:
            return line + ", none skipped"
        kinds = Counter(p.kind for p in self.skipped)
        detail = ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common())
        return f"{line}, {len(self.skipped):,} skipped: {detail}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, written next to the index."""
        return {
            "documents": self.documents,
            "people": self.people,
            "erased": self.erased,
            "summary": self.summary(),
            "skipped": [_problem(p) for p in self.skipped],
            "warnings": [_problem(p) for p in self.warnings],
            "ignored_files": dict(self.ignored_files),
        }


def _problem(problem: Problem) -> dict[str, object]:
    return {
        "source": problem.source,
        "line": problem.line,
        "field": problem.field,
        "kind": problem.kind,
        "message": problem.message,
    }
