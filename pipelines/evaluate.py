"""Evaluation: how well an index finds the judged resources and people of a dataset.

A dataset directory holds documents.jsonl, people.jsonl, queries.jsonl,
qrels_resources.tsv and qrels_people.tsv in the normalised format. Every query
with judgments is asked; the rankings are scored with ir-measures.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import RR, P, R, nDCG

from models.arrays import Progress
from models.config import RecommenderConfig
from models.recommender import Recommender
from models.records import AsOf, parse_date
from pipelines import ingest, tracking
from pipelines.build import build_dataset
from pipelines.exceptions import DatasetError
from pipelines.ingest.tabular import read_jsonl

MEASURES = {"nDCG@10": nDCG @ 10, "RR@10": RR @ 10, "P@1": P @ 1, "R@100": R @ 100}
DEPTH = 100
TASKS = ("resources", "people")
FILES = (
    "documents.jsonl",
    "people.jsonl",
    "queries.jsonl",
    "qrels_resources.tsv",
    "qrels_people.tsv",
)

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class Dataset:
    """Queries and judgments of an evaluation set.

    ``as_of`` holds the queries of the past (mined judgments, pipelines.mining):
    only documents created before ``as_of``, other than those listed in
    ``exclude``, may answer them.
    """

    path: Path
    queries: dict[str, str]
    qrels: dict[str, Qrels]
    as_of: dict[str, AsOf] = field(default_factory=dict)

    def judged(self) -> list[str]:
        """The queries that have a text and a judgment of either kind, sorted."""
        ids = set(self.qrels["resources"]) | set(self.qrels["people"])
        return sorted(q for q in ids if q in self.queries)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Metrics per task, the rankings they were computed from, and what produced them.

    Attributes:
        metrics: task -> measure -> value.
        runs: task -> query -> item -> score.
        params: the index's parameters, encoder and version.
        seconds: wall time, including any build.
        query_seconds: time of each query.
    """

    metrics: dict[str, dict[str, float | int]]
    runs: dict[str, Run] = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    query_seconds: list[float] = field(default_factory=list, repr=False)


def load_dataset(path: Path, tasks: Sequence[str] = TASKS) -> Dataset:
    """Read queries and judgments of a dataset directory.

    Args:
        path: the dataset directory.
        tasks: the judgments to read; with all of them (an evaluation) the
            documents and people files must be there too, with fewer (judged
            pairs for fine-tuning, e.g. exported feedback) only queries.jsonl
            and those qrels files.

    Raises:
        DatasetError: a required file is missing or a judgment line is malformed.
    """
    needed: tuple[str, ...] = FILES if set(tasks) == set(TASKS) else ("queries.jsonl",)
    needed += tuple(f"qrels_{task}.tsv" for task in tasks if f"qrels_{task}.tsv" not in needed)
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise DatasetError(f"{path} is not an evaluation dataset: missing {', '.join(missing)}")
    report = ingest.IngestReport()
    queries = {}
    as_of = {}
    for _, row in read_jsonl(path / "queries.jsonl", report):
        if isinstance(row.get("id"), str) and isinstance(row.get("text"), str):
            queries[row["id"]] = row["text"]
            if "as_of" in row or "exclude" in row:
                as_of[row["id"]] = _as_of(row, path)
    if report.skipped:
        raise DatasetError(f"bad query line: {report.skipped[0]}")
    qrels = {task: read_qrels(path / f"qrels_{task}.tsv") for task in tasks}
    return Dataset(path, queries, qrels, as_of)


def read_qrels(path: Path) -> Qrels:
    """A TSV of (query_id, item_id, grade) under a header line."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and not _is_int(parts[-1]):
                continue  # header
            if not line.strip():
                continue
            if len(parts) != 3 or not _is_int(parts[2]):
                raise DatasetError(f"{path}:{number}: expected query_id<TAB>item_id<TAB>grade")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def run(
    dataset_dir: Path,
    *,
    index_dir: Path | None = None,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate an index on a dataset, building one from the dataset if none is given.

    Args:
        dataset_dir: the dataset directory.
        index_dir: an index built from the dataset's documents; None builds one in memory.
        config: parameters of the index built here (ignored with index_dir).
        model_path: a local encoder folder instead of the default.
        cache_dir: the embedding cache folder.
        progress: told (stage, done, total) as the evaluation runs.
    """
    started = time.perf_counter()
    dataset = load_dataset(dataset_dir)
    if index_dir is not None:
        recommender = Recommender.load(index_dir, model_path=model_path)
    else:
        recommender = build_dataset(
            dataset_dir,
            config=config,
            model_path=model_path,
            cache_dir=cache_dir,
            progress=progress,
        )
    evaluation = evaluate(recommender, dataset, progress=progress, started=started)
    if index_dir is not None:
        evaluation.params["index_dir"] = str(index_dir)
    return evaluation


def evaluate(
    recommender: Recommender,
    dataset: Dataset,
    *,
    progress: Progress | None = None,
    started: float | None = None,
) -> Evaluation:
    """Ask every judged query of a dataset and score the rankings.

    Raises:
        DatasetError: the dataset holds queries of the past (mined judgments),
            which only ``compare`` and ``train-ranker`` answer as of their time.
    """
    if dataset.as_of:
        raise DatasetError(
            f"{dataset.path} holds mined judgments, asked as of their own time; "
            "measure them with `whoknows compare` or learn from them with `whoknows train-ranker`"
        )
    started = time.perf_counter() if started is None else started
    judged = dataset.judged()
    limit = recommender.config.max_query_chars
    runs: dict[str, Run] = {task: {} for task in TASKS}
    timings = []
    for done, query_id in enumerate(judged, start=1):
        begin = time.perf_counter()
        answer = recommender.recommend(
            dataset.queries[query_id][:limit], limit_resources=DEPTH, limit_people=DEPTH
        )
        timings.append(time.perf_counter() - begin)
        # Scores by rank, so that ties in similarity cannot reorder the ranking.
        runs["resources"][query_id] = by_rank(h.document.id for h in answer.resources)
        runs["people"][query_id] = by_rank(h.person.id for h in answer.people)
        if progress is not None:
            progress("queries", done, len(judged))
    metrics = {task: score(dataset.qrels[task], runs[task], dataset.queries) for task in TASKS}
    params = {
        "dataset": dataset.path.name,
        "index_version": recommender.index_version,
        "encoder": recommender.manifest.encoder.get("name"),
        **recommender.config.to_dict(),
    }
    return Evaluation(metrics, runs, params, time.perf_counter() - started, timings)


def score(qrels: Qrels, run: Run, queries: Iterable[str]) -> dict[str, float | int]:
    """Mean of each measure over the judged queries; a query with no results scores 0."""
    return means(per_query(qrels, run, queries))


def means(values: dict[str, dict[str, float]]) -> dict[str, float | int]:
    """The mean of each measure of ``per_query`` (0 with no queries), and n_queries."""
    n = len(values[next(iter(MEASURES))])
    result: dict[str, float | int] = {
        name: (sum(by_query.values()) / n if n else 0.0) for name, by_query in values.items()
    }
    result["n_queries"] = n
    return result


def per_query(qrels: Qrels, run: Run, queries: Iterable[str]) -> dict[str, dict[str, float]]:
    """Each measure on each judged query: measure -> query -> value, queries sorted.

    The judged queries are those of ``queries`` with at least one relevant
    item; one the run has no results for scores 0. These are the values whose
    mean ``score`` reports, and what confidence intervals and paired tests
    resample (pipelines.significance).
    """
    known = set(queries)
    judged = {
        q: items
        for q, items in sorted(qrels.items())
        if q in known and any(g > 0 for g in items.values())
    }
    values = {name: dict.fromkeys(judged, 0.0) for name in MEASURES}
    names = {str(m): name for name, m in MEASURES.items()}
    for metric in ir_measures.iter_calc(
        list(MEASURES.values()), judged, {q: run.get(q, {}) for q in judged}
    ):
        values[names[str(metric.measure)]][metric.query_id] = float(metric.value)
    return values


def track(evaluation: Evaluation, metrics_file: Path | None = None) -> str:
    """Log an evaluation to MLflow: parameters, metrics, latency; returns the run id."""
    index_dir = evaluation.params.get("index_dir")
    tags = {"whoknows.task": "evaluate"}
    if index_dir:
        tags["whoknows.index"] = str(Path(index_dir).resolve())
    with tracking.run(f"evaluate {evaluation.params.get('dataset')}", tags=tags) as mlflow:
        mlflow.log_params(tracking.flatten(evaluation.params))
        mlflow.log_metrics(
            {
                tracking.metric_name(task, measure): float(value)
                for task, values in evaluation.metrics.items()
                for measure, value in values.items()
            }
        )
        if evaluation.query_seconds:
            mlflow.log_metric("query_ms_median", 1000 * statistics.median(evaluation.query_seconds))
        if metrics_file is not None:
            mlflow.log_artifact(str(metrics_file))
        run_id: str = mlflow.active_run().info.run_id
    return run_id


def write_metrics(evaluation: Evaluation, path: Path) -> None:
    """Write the metrics JSON: {"resources": {...}, "people": {...}}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_rounded(evaluation.metrics), indent=2) + "\n")


def by_rank(ids: Iterable[str]) -> dict[str, float]:
    """A run from ids in rank order: scores by rank, so ties cannot reorder it."""
    ranked = list(dict.fromkeys(ids))
    return {item: float(len(ranked) - rank) for rank, item in enumerate(ranked)}


def _rounded(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        task: {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
        for task, values in metrics.items()
    }


def _as_of(row: dict[str, Any], path: Path) -> AsOf:
    """A mined query's moment and excluded documents.

    Raises:
        DatasetError: ``as_of`` is not a date or ``exclude`` not a list of ids.
    """
    when = row.get("as_of")
    moment = parse_date(when) if isinstance(when, str) else None
    if when is not None and moment is None:
        raise DatasetError(f"{path}: query {row['id']}: as_of {when!r} is not an ISO-8601 date")
    exclude = row.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
        raise DatasetError(f"{path}: query {row['id']}: exclude must be a list of document ids")
    return AsOf(moment, frozenset(exclude))


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
