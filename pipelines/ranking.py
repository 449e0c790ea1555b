"""Learning to rank: train the rankers on judgments and compare every method honestly.

For each judged query of each dataset, the candidates (documents from both
retrievers; people from the evidence) and their features are computed once.
Rankers are then fitted with scikit-learn on some queries and scored on
others: k-fold cross-validation over the pooled queries of all datasets, so
that no query ever helps rank itself.

The people ranker learns from people features computed over document
rankings. In service those rankings come from a resources ranker that never
saw the query, so in training each query's document ranking comes from a
resources ranker fitted on the other queries (cross-fitting), never from one
that learned that query's own judgments.

Every figure of a comparison comes with a bootstrap confidence interval over
the queries and a paired test against what whoknows does with no ranker at
all (BASELINES: plain rrf fusion; Model 2 voting over rrf-ordered documents),
so that a difference smaller than the noise is reported as such
(pipelines.significance).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from models.arrays import Progress
from models.config import RecommenderConfig
from models.exceptions import ConfigurationError
from models.expertise import PEOPLE_FEATURES, PEOPLE_SCALING
from models.features import Features
from models.ranker import Group, LinearRanker, choose_regularisation, fit
from models.recommender import Recommender
from models.retrieval import FUSIONS, RESOURCE_FEATURES, Candidates, Retrieval
from pipelines import significance, tracking
from pipelines.build import build_dataset
from pipelines.evaluate import DEPTH, Dataset, by_rank, load_dataset, means, per_query
from pipelines.exceptions import PipelineError

RESOURCE_METHODS = tuple(f for f in FUSIONS if f != "learned") + ("learned",)
#: What the evidence ranker (the documents people are judged by) learns from: the
#: query expansion helps reading lists but blurs who wrote about the query itself.
EVIDENCE_FEATURES = tuple(f for f in RESOURCE_FEATURES if f != "feedback")
#: Model 2 voting over the documents as plain rrf orders them, with no ranker at all.
PEOPLE_BASELINE = "rrf-model2"
PEOPLE_METHODS = (PEOPLE_BASELINE, *PEOPLE_FEATURES, "learned")
#: What every method of a task is tested against: whoknows without learned rankers.
BASELINES = {"resources": "rrf", "people": PEOPLE_BASELINE}
#: Inverse L2 strength per task where too few queries teach anything to choose
#: one by cross-validation over the training queries (models.ranker.choose_regularisation).
REGULARISATION = {"resources": 1.0, "people": 0.01}


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    """One judged query with its candidate documents, computed once.

    Attributes:
        dataset: the dataset's name.
        query_id: the query's id in the dataset.
        retrieval: what the retrievers proposed for it, as in service.
        resources: its judged documents and their grades.
        people: its judged people and their grades.
    """

    dataset: str
    query_id: str
    retrieval: Retrieval
    resources: dict[str, int]
    people: dict[str, int]

    @property
    def candidates(self) -> Candidates:
        """The candidate documents and their features."""
        return self.retrieval.candidates


@dataclass(slots=True)
class Collection:
    """A dataset built into an index, with its judged queries."""

    name: str
    recommender: Recommender
    dataset: Dataset
    queries: list[JudgedQuery] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Metrics of every method on every dataset, from cross-validation.

    Attributes:
        metrics: dataset -> task -> method -> measure -> value.
        folds: the number of folds (1: rankers fitted once, on mined judgments only).
        seconds: wall time of the whole comparison.
        intervals: dataset -> task -> method -> measure -> the mean, its
            bootstrap interval and its paired difference to BASELINES[task].
        trained_on: what the learned rankers were fitted on, in words.
    """

    metrics: dict[str, dict[str, dict[str, dict[str, float | int]]]]
    folds: int
    seconds: float
    intervals: dict[str, dict[str, dict[str, dict[str, significance.Comparison]]]] = field(
        default_factory=dict
    )
    trained_on: str = "judged queries, cross-validated"


def prepare(
    dataset_dir: Path,
    *,
    config: RecommenderConfig | None = None,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    name: str | None = None,
) -> Collection:
    """Build a dataset's index and compute the candidates of its judged queries
    (queries of the past, mined judgments, as of their own time).

    ``name`` names the collection (if None, the folder's name, after ``mined:``
    for mined judgments)."""
    dataset = load_dataset(dataset_dir)
    # The rankers are what is being learned: build without them.
    base = dataclasses.replace(config or RecommenderConfig(), fusion="rrf", people_model="model2")
    recommender = build_dataset(
        dataset_dir, config=base, model_path=model_path, cache_dir=cache_dir, progress=progress
    )
    if name is None:
        name = f"mined:{dataset_dir.name}" if dataset.as_of else dataset_dir.name
    return collect(recommender, dataset, name, progress=progress)


def collect(
    recommender: Recommender, dataset: Dataset, name: str, *, progress: Progress | None = None
) -> Collection:
    """The candidates of a dataset's judged queries in an index built from its documents."""
    collection = Collection(name, recommender, dataset)
    judged = dataset.judged()
    limit = recommender.config.max_query_chars
    texts = [dataset.queries[q][:limit].strip() or q for q in judged]
    as_of = [dataset.as_of.get(q) for q in judged] if dataset.as_of else None
    retrievals = recommender.retrieve(
        texts, as_of=as_of, progress=progress, stage=f"candidates {collection.name}"
    )
    for query_id, retrieval in zip(judged, retrievals, strict=True):
        collection.queries.append(
            JudgedQuery(
                dataset=collection.name,
                query_id=query_id,
                retrieval=retrieval,
                resources=dataset.qrels["resources"].get(query_id, {}),
                people=dataset.qrels["people"].get(query_id, {}),
            )
        )
    return collection


def resource_group(
    collection: Collection, query: JudgedQuery, features: Sequence[str] = RESOURCE_FEATURES
) -> Group:
    """The query's candidate documents: the named features, and grades."""
    documents = collection.recommender.documents
    grades = np.array([query.resources.get(documents[r].id, 0) for r in query.candidates.rows])
    return query.candidates.features.select(features).values, grades.astype(np.int64)


def people_candidates(
    collection: Collection, query: JudgedQuery, ranker: LinearRanker | None
) -> tuple[list[str], Features]:
    """The query's candidate people and their features, as the service computes them.

    The documents people are judged by are ranked by ``ranker``, or by reciprocal
    rank fusion when there is no resources ranker (no resource judgments to learn
    one from).
    """
    recommender = collection.recommender
    candidates = recommender.people_candidates(query.retrieval, ranker)
    return [recommender.people[int(r)].id for r in candidates.rows], candidates.features


@dataclass(frozen=True, slots=True)
class Rankers:
    """The rankers learned from some judged queries; None where there was nothing to learn.

    Attributes:
        resources: orders the resources returned (every RESOURCE_FEATURE).
        people: orders the people.
        evidence: orders the documents whose evidence ranks people (EVIDENCE_FEATURES).
    """

    resources: LinearRanker | None
    people: LinearRanker | None
    evidence: LinearRanker | None = None

    def present(self) -> dict[str, LinearRanker]:
        """The rankers that could be learned, by name (their file stem)."""
        named = {"resources": self.resources, "people": self.people, "evidence": self.evidence}
        return {name: r for name, r in named.items() if r is not None}


def fit_rankers(
    collections: Sequence[Collection],
    queries: Sequence[JudgedQuery] | None = None,
    *,
    regularisation: dict[str, float] | None = None,
    inner_folds: int = 5,
    seed: int = 0,
) -> Rankers:
    """Fit the resources ranker, then the people ranker on cross-fitted document rankings.

    Args:
        collections: the prepared datasets.
        queries: the queries to learn from; all of the collections' if None.
        regularisation: inverse L2 strength per task; a task not named gets the one
            that ranks held-out training queries best (REGULARISATION if too few).
        inner_folds: folds of the cross-fitting of the people ranker's training rankings.
        seed: shuffles the cross-fitting folds.
    """
    given = dict(regularisation or {})
    by_name = {c.name: c for c in collections}
    chosen = list(queries) if queries is not None else [q for c in collections for q in c.queries]
    names = sorted({q.dataset for q in chosen})

    def groups_of(subset: Sequence[JudgedQuery], features: Sequence[str]) -> list[Group]:
        return [resource_group(by_name[q.dataset], q, features) for q in subset if q.resources]

    def strength_of(
        task: str, features: Sequence[str], groups: Sequence[Group], scaling: Sequence[str] | None
    ) -> float:
        if task in given:
            return given[task]
        return choose_regularisation(
            task, features, groups, scaling=scaling, seed=seed, default=REGULARISATION[task]
        )

    resource_strength = strength_of(
        "resources", RESOURCE_FEATURES, groups_of(chosen, RESOURCE_FEATURES), None
    )

    def resources_from(
        subset: Sequence[JudgedQuery], features: Sequence[str] = RESOURCE_FEATURES
    ) -> LinearRanker | None:
        try:
            return fit(
                "resources",
                features,
                groups_of(subset, features),
                regularisation=resource_strength,
                info={"trained_on": names},
            )
        except ConfigurationError:
            return None  # no resource judgments: documents are ranked by rrf instead

    resources = resources_from(chosen)
    evidence = resources_from(chosen, EVIDENCE_FEATURES)
    judged = [q for q in chosen if q.people]
    groups: list[Group] = []
    splits = min(inner_folds, len(chosen))
    parts = KFold(splits, shuffle=True, random_state=seed).split(chosen) if splits >= 2 else []
    ranker_of: dict[int, LinearRanker | None] = {}
    for rest, held in parts:
        inner = resources_from([chosen[i] for i in rest], EVIDENCE_FEATURES) or evidence
        ranker_of.update({id(chosen[i]): inner for i in held})
    for query in judged:
        ids, features = people_candidates(
            by_name[query.dataset], query, ranker_of.get(id(query), evidence)
        )
        grades = np.array([query.people.get(i, 0) for i in ids], dtype=np.int64)
        groups.append((features.select(PEOPLE_FEATURES).values, grades))
    try:
        people: LinearRanker | None = fit(
            "people",
            PEOPLE_FEATURES,
            groups,
            scaling=PEOPLE_SCALING,
            regularisation=strength_of("people", PEOPLE_FEATURES, groups, PEOPLE_SCALING),
            info={"trained_on": names},
        )
    except ConfigurationError:
        people = None
    return Rankers(resources, people, evidence)


def compare(
    collections: Sequence[Collection],
    *,
    folds: int = 5,
    seed: int = 0,
    regularisation: dict[str, float] | None = None,
    progress: Progress | None = None,
    mined: Sequence[Collection] = (),
    with_judged: bool = False,
    own_history: bool = False,
) -> Comparison:
    """Every retrieval and expertise method on every dataset; learned ones cross-validated.

    Fixed methods (dense, lexical, rrf; each people feature alone) need no
    training; each people feature is computed over the document ranking of
    the learned evidence ranker of the query's fold, except PEOPLE_BASELINE,
    Model 2 over the rrf ranking. Every figure gets a bootstrap interval over
    the dataset's queries and a paired test against BASELINES (seeded by ``seed``).

    Args:
        mined: collections of mined judgments that the rankers learn from and
            that are never measured. With them, and without ``with_judged``, the
            rankers are fitted once on them alone and every judged query is a
            test query (``folds`` is ignored).
        with_judged: with ``mined``, the rankers of each fold learn from the
            mined judgments and the other folds' judged queries.
        own_history: each dataset's rankers learn only from its own mined
            judgments (the collection named ``mined:<its name>``) and, with
            ``with_judged``, its own other folds: as each organisation's build
            fits its rankers on its own history.
    """
    started = time.perf_counter()
    pooled = [q for c in collections for q in c.queries]
    extra = [q for c in mined for q in c.queries]
    only_mined = bool(mined) and not with_judged
    if only_mined:
        folds = 1
    elif not 2 <= folds <= len(pooled):
        raise PipelineError(
            f"cross-validation needs between 2 and {len(pooled)} folds (the judged queries), "
            f"not {folds}"
        )
    names = [c.name for c in (*collections, *mined)]
    if len(set(names)) != len(names):
        raise PipelineError(f"two datasets share a name: {', '.join(names)}")
    if own_history:
        lacking = [c.name for c in collections if f"mined:{c.name}" not in names]
        if lacking:
            raise PipelineError(
                "each dataset needs mined judgments of its own, in a folder of the same "
                f"name: none for {', '.join(lacking)}"
            )
    by_name = {c.name: c for c in (*collections, *mined)}
    runs: dict[str, dict[str, dict[str, dict[str, dict[str, float]]]]] = {
        c.name: {
            "resources": {m: {} for m in RESOURCE_METHODS},
            "people": {m: {} for m in PEOPLE_METHODS},
        }
        for c in collections
    }
    if only_mined:
        splits: list[tuple[Sequence[int], Sequence[int]]] = [([], range(len(pooled)))]
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(pooled))
    everything = list(by_name.values())

    def learn(train: Sequence[int]) -> dict[str | None, Rankers]:
        if not own_history:
            chosen = [*extra, *(pooled[i] for i in train)]
            return {None: fit_rankers(everything, chosen, regularisation=regularisation, seed=seed)}
        return {
            c.name: fit_rankers(
                everything,
                [q for q in extra if q.dataset == f"mined:{c.name}"]
                + [pooled[i] for i in train if pooled[i].dataset == c.name],
                regularisation=regularisation,
                seed=seed,
            )
            for c in collections
        }

    for fold, (train, test) in enumerate(splits, start=1):
        fitted = learn(train)
        for i in test:
            query = pooled[i]
            learned = fitted[query.dataset if own_history else None]
            resources, people, evidence = learned.resources, learned.people, learned.evidence
            collection = by_name[query.dataset]
            table = runs[query.dataset]
            documents = collection.recommender.documents
            if query.resources:
                for method in RESOURCE_METHODS:
                    if method == "learned" and resources is None:
                        continue
                    ranking = collection.recommender.rank_documents(
                        query.retrieval, DEPTH, fusion=method, ranker=resources
                    )
                    ids = [documents[r].id for r in ranking.rows]
                    table["resources"][method][query.query_id] = by_rank(ids)
            if query.people:
                ids, features = people_candidates(collection, query, evidence)
                plain_ids, plain = people_candidates(collection, query, None)
                order = np.argsort(-plain.column("model2"), kind="stable")
                table["people"][PEOPLE_BASELINE][query.query_id] = by_rank(
                    plain_ids[j] for j in order[:DEPTH]
                )
                for method in PEOPLE_FEATURES + ("learned",):
                    if method == "learned":
                        if people is None:
                            continue
                        order = np.argsort(-people.score(features), kind="stable")
                    else:
                        order = np.argsort(-features.column(method), kind="stable")
                    table["people"][method][query.query_id] = by_rank(ids[j] for j in order[:DEPTH])
        if progress is not None:
            progress("cross-validation", fold, folds)
    metrics: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    intervals: dict[str, dict[str, dict[str, dict[str, significance.Comparison]]]] = {}
    for name, tasks in runs.items():
        dataset = by_name[name].dataset
        for task, methods in tasks.items():
            values = {
                method: per_query(dataset.qrels[task], run, dataset.queries)
                for method, run in methods.items()
                if run  # a learned method without judgments to learn from is left out
            }
            metrics.setdefault(name, {})[task] = {m: means(v) for m, v in values.items()}
            intervals.setdefault(name, {})[task] = significance.against(
                values, BASELINES[task], seed=seed
            )
    own = ", each dataset its own" if own_history else ""
    if only_mined:
        trained_on = f"mined judgments only{own} (" + ", ".join(c.name for c in mined) + ")"
    elif mined:
        trained_on = f"mined judgments and the other folds' judged queries{own}"
    else:
        trained_on = "judged queries, cross-validated"
    return Comparison(metrics, folds, time.perf_counter() - started, intervals, trained_on)


def markdown_table(comparison: Comparison) -> str:
    """The comparison as the README's tables, one row per method, datasets as columns.

    Per task, the figures with their 95% intervals, then each method's difference
    to the task's baseline with the p-value of the paired test.
    """
    names = list(comparison.metrics)
    lines = []
    for task, measures in (("resources", ("nDCG@10",)), ("people", ("RR@10", "P@1"))):
        baseline = BASELINES[task]
        head = " | ".join(f"{n} {m}" for n in names for m in measures)
        rule = "| --- |" + " --- |" * (len(names) * len(measures))
        methods = list(dict.fromkeys(m for n in names for m in comparison.metrics[n][task]))
        lines += [f"| {task} method | {head} |", rule]
        for method in methods:
            label = f"{method} (baseline)" if method == baseline else method
            cells = [_cell(comparison, n, task, method, m, False) for n in names for m in measures]
            lines.append(f"| {label} | {' | '.join(cells)} |")
        lines += ["", f"| {task} method, difference to {baseline} | {head} |", rule]
        for method in methods:
            if method != baseline:
                cells = [
                    _cell(comparison, n, task, method, m, True) for n in names for m in measures
                ]
                lines.append(f"| {method} | {' | '.join(cells)} |")
        lines.append("")
    lines.append(
        f"Means over the queries with 95% bootstrap intervals ({significance.SAMPLES:,} "
        "resamples of the queries); differences by a two-sided paired randomisation test, "
        f"* where p < {significance.ALPHA}, otherwise within noise (not corrected for "
        "multiple comparisons). Learned rankers trained on: " + comparison.trained_on + "."
    )
    return "\n".join(lines)


def as_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison for ``--out``: dataset -> task -> method -> baseline,
    n_queries and, per measure, mean, low, high, delta, p_value and significant."""
    return {
        name: {
            task: {
                method: {
                    "baseline": BASELINES[task],
                    "n_queries": values["n_queries"],
                    **{
                        measure: c.to_dict()
                        for measure, c in comparison.intervals[name][task][method].items()
                    },
                }
                for method, values in methods.items()
            }
            for task, methods in tasks.items()
        }
        for name, tasks in comparison.metrics.items()
    }


def save_rankers(
    rankers: Mapping[str, LinearRanker], directory: Path, info: dict[str, Any]
) -> list[Path]:
    """Write <name>.json for each ranker given (resources, people, evidence), with how."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, ranker in rankers.items():
        path = directory / f"{name}.json"
        dataclasses.replace(ranker, info={**ranker.info, **info}).save(path)
        written.append(path)
    return written


def track(comparison: Comparison, table: str, config: RecommenderConfig) -> str:
    """Log a comparison to MLflow: one metric per dataset, task, method and measure."""
    with tracking.run("compare " + " ".join(comparison.metrics)) as mlflow:
        mlflow.log_params({"folds": comparison.folds, **tracking.flatten(config.to_dict())})
        mlflow.log_metrics(
            {
                f"{dataset}/" + tracking.metric_name(f"{task}/{method}", measure): float(value)
                for dataset, tasks in comparison.metrics.items()
                for task, methods in tasks.items()
                for method, values in methods.items()
                for measure, value in values.items()
            }
        )
        mlflow.log_text(table, "comparison.md")
        run_id: str = mlflow.active_run().info.run_id
    return run_id


def _cell(
    comparison: Comparison, name: str, task: str, method: str, measure: str, delta: bool
) -> str:
    found = comparison.intervals.get(name, {}).get(task, {}).get(method)
    if found is None:
        return "n/a"
    return found[measure].difference() if delta else found[measure].figure()
