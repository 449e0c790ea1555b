"""Feedback as an evaluation dataset: queries.jsonl, qrels_resources.tsv, qrels_people.tsv.

The files have the layout of the evaluation datasets (``whoknows evaluate`` reads
them next to documents.jsonl and people.jsonl), so real use becomes relevance
judgments for evaluating and fine-tuning. Each query is a logged recommendation;
each judgment is one (recommendation, item) that received feedback.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, select

from pipelines.store.records import POSITIVE, ExportSummary, person_hash
from pipelines.store.schema import feedback, recommendations, suppressions

QUERIES = "queries.jsonl"
QRELS = {"resource": "qrels_resources.tsv", "person": "qrels_people.tsv"}
HEADERS = {"resource": "query_id\tdoc_id\tgrade", "person": "query_id\tperson_id\tgrade"}


def grade(actions: set[str]) -> int:
    """The relevance grade of an item from everything done with it.

    2 when anyone found it helpful or contacted the person, else 1 when it was
    clicked, else 0 (marked not helpful: an explicit negative). A helpful rating
    therefore outranks a not-helpful one, whichever came first.
    """
    if actions & POSITIVE:
        return 2
    if "click" in actions:
        return 1
    return 0


def export_judgments(
    connection: Connection, out_dir: Path, start: datetime | None, end: datetime | None
) -> ExportSummary:
    """Write the judgments of recommendations made in [start, end) into ``out_dir``.

    The three files replace earlier ones only once all are written in full, so a
    crash while writing leaves the old export (or none); the three renames that
    follow are not one atomic step.
    """
    query = (
        select(
            recommendations.c.id,
            recommendations.c.query,
            feedback.c.item_kind,
            feedback.c.item_id,
            feedback.c.action,
        )
        .join(feedback, feedback.c.recommendation_id == recommendations.c.id)
        .order_by(recommendations.c.created_at, recommendations.c.id, feedback.c.id)
    )
    if start is not None:
        query = query.where(recommendations.c.created_at >= start)
    if end is not None:
        query = query.where(recommendations.c.created_at < end)
    hidden = set(connection.scalars(select(suppressions.c.person_sha256)))
    texts: dict[str, str] = {}
    actions: dict[tuple[str, str, str], set[str]] = {}
    for row in connection.execute(query):
        if row.item_kind == "person" and person_hash(row.item_id) in hidden:
            continue
        texts.setdefault(row.id, row.query)
        actions.setdefault((row.id, row.item_kind, row.item_id), set()).add(row.action)
    lines: dict[str, list[str]] = {kind: [HEADERS[kind]] for kind in QRELS}
    for (query_id, kind, item_id), done in actions.items():
        lines[kind].append(f"{query_id}\t{item_id}\t{grade(done)}")
    queries = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in texts.items()]
    _write_all(
        Path(out_dir),
        {QUERIES: queries, **{QRELS[kind]: rows for kind, rows in lines.items()}},
    )
    return ExportSummary(
        directory=Path(out_dir),
        queries=len(texts),
        resource_judgments=len(lines["resource"]) - 1,
        people_judgments=len(lines["person"]) - 1,
    )


def _write_all(directory: Path, files: dict[str, list[str]]) -> None:
    """Write every file to a temporary name first, then rename them all into place."""
    directory.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    written: list[tuple[Path, Path]] = []
    try:
        for name, rows in files.items():
            tmp = directory / f".{name}.tmp-{token}"
            written.append((tmp, directory / name))
            with tmp.open("w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(row + "\n" for row in rows)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, final in written:
            os.replace(tmp, final)
    finally:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
