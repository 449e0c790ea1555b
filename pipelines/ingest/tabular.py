"""Reading records from JSONL and CSV files, line by line, reporting bad lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.ingest.limits import Limits
from pipelines.ingest.report import IngestReport, Problem

_SURROGATES = range(0xDC80, 0xDD00)


def read_jsonl(
    path: Path, report: IngestReport, limits: Limits | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for every valid line; report and skip the others.

    A line longer than ``limits.max_line_bytes`` is skipped without being read whole.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        report.skip(Problem(str(path), "unreadable file", f"cannot read the file: {exc.strerror}"))
        return
    limits = limits or Limits()
    with handle:
        for number, raw in enumerate(_lines(handle, limits.max_line_bytes), start=1):
            if raw is None:
                report.skip(Problem(str(path), "too large", limits.line_too_long(), line=number))
                continue
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                report.skip(
                    Problem(
                        str(path),
                        "invalid UTF-8",
                        f"invalid UTF-8 at byte {exc.start} of the line; save the file as UTF-8",
                        line=number,
                    )
                )
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                report.skip(
                    Problem(
                        str(path),
                        "invalid JSON",
                        f"not valid JSON ({exc.msg} at column {exc.colno})",
                        line=number,
                    )
                )
                continue
            except RecursionError:
                report.skip(
                    Problem(str(path), "invalid JSON", "the JSON is nested too deeply", line=number)
                )
                continue
            if not isinstance(record, dict):
                report.skip(
                    Problem(
                        str(path), "invalid JSON", "each line must be one JSON object", line=number
                    )
                )
                continue
            yield number, record


def _lines(handle: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Each line of a file, or None for one longer than ``limit`` bytes (read past, not kept)."""
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = handle.readline(1 << 16)
        yield None


def read_csv(path: Path, report: IngestReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for every valid CSV row; the header names the fields."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.skip(Problem(str(path), "unreadable file", f"cannot read the file: {exc.strerror}"))
        return
    # Undecodable bytes survive as lone surrogates, so that only their rows are skipped.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        report.skip(Problem(str(path), "invalid CSV", f"cannot read the header: {exc}", line=1))
        return
    if "id" not in header:
        report.skip(
            Problem(
                str(path),
                "invalid CSV",
                f"the header has no 'id' column (it has: {', '.join(header) or 'nothing'})",
                line=1,
            )
        )
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.skip(Problem(str(path), "invalid CSV", f"unreadable row: {exc}", line=start))
            return
        number, start = start, reader.line_num + 1
        if None in row:
            report.skip(
                Problem(
                    str(path), "invalid CSV", "the row has more fields than the header", line=number
                )
            )
            continue
        if any(_has_surrogate(v) for v in row.values()):
            report.skip(
                Problem(
                    str(path),
                    "invalid UTF-8",
                    "invalid UTF-8 in the row; save the file as UTF-8",
                    line=number,
                )
            )
            continue
        yield number, {k: v for k, v in row.items() if v not in (None, "")}


def _has_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any(ord(c) in _SURROGATES for c in value)
