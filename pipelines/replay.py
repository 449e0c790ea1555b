"""Replaying the judged dev queries in time order: how load-aware routing spreads the asking.

Every judged people query of the datasets is asked once, in the order it was
asked (Stack Exchange queries carry their date; the others their number), and
the people the answer shows add to their exposure as they would in service
(models.routing: by position, decayed with its half-life). Each knob value of
``load_balance`` is replayed from no exposure at all. The scores routed are
cross-fitted, as in ``whoknows compare``: each query's people are scored by a
ranker fitted on the other folds, never on the query itself.

For each knob value the replay reports, per dataset and pooled:

- ``gini``: the Gini coefficient of exposure (times shown) over the people shown
  with this knob or without load (knob 0), zeros included: the people between
  whom load moved; ``gini_without_load`` is the same population's without load;
- ``gini_everyone``: the same over everyone in the index, as /v1/analytics counts;
- ``top10_share``: the share of all shown places that went to the ten most shown;
- ``RR@10`` and ``P@1`` of the routed lists against the judgments.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.model_selection import KFold

from models.arrays import Matrix, Progress
from models.routing import decayed, exposure_weight, route, typical_exposure
from pipelines.evaluate import by_rank, score
from pipelines.exceptions import PipelineError
from pipelines.ranking import Collection, fit_rankers
from pipelines.store.analytics import gini

#: Places an answer shows (the API's default limit) and places scored (RR@10).
SHOWN = 5
DEPTH = 10
POOLED = "pooled"


@dataclass(frozen=True, slots=True)
class ReplayQuery:
    """One judged query, its candidates scored by a ranker that never saw it.

    Attributes:
        dataset: the dataset's name.
        query_id: the query's id.
        asked: when it was asked, if the dataset says.
        people: the candidate person ids.
        scores: their cross-fitted expertise scores.
        departments: their departments.
        votes: (documents, candidates) evidence over the query's documents.
        judged: the judged people and their grades.
    """

    dataset: str
    query_id: str
    asked: datetime | None
    people: list[str]
    scores: Matrix
    departments: list[str | None]
    votes: sparse.csc_array
    judged: dict[str, int]


@dataclass(frozen=True, slots=True)
class Replay:
    """The outcome of one knob value.

    Attributes:
        load_balance: the knob.
        shown: per dataset, how often each person was shown.
        runs: per dataset, each query's routed people (for RR@10 and P@1).
    """

    load_balance: float
    shown: dict[str, Counter[str]]
    runs: dict[str, dict[str, dict[str, float]]] = field(repr=False)


def prepare(
    collections: Sequence[Collection],
    *,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[ReplayQuery]:
    """Cross-fitted candidates of every judged people query, in the order they were asked.

    Raises:
        PipelineError: fewer judged queries than folds.
    """
    pooled = [q for c in collections for q in c.queries]
    if not 2 <= folds <= len(pooled):
        raise PipelineError(f"the replay needs between 2 and {len(pooled)} folds, not {folds}")
    by_name = {c.name: c for c in collections}
    dates = {c.name: _dates(c) for c in collections}
    out = []
    splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(pooled)
    for fold, (train, test) in enumerate(splits, start=1):
        learned = fit_rankers(collections, [pooled[i] for i in train], seed=seed)
        if learned.people is None:
            raise PipelineError("no people judgments to fit a people ranker on")
        for i in test:
            query = pooled[i]
            if not query.people:
                continue
            collection = by_name[query.dataset]
            recommender = collection.recommender
            candidates = recommender.people_candidates(query.retrieval, learned.evidence)
            ids = [recommender.people[int(r)].id for r in candidates.rows]
            out.append(
                ReplayQuery(
                    dataset=query.dataset,
                    query_id=query.query_id,
                    asked=dates[query.dataset].get(query.query_id),
                    people=ids,
                    scores=learned.people.contributions(candidates.features).values.sum(axis=1),
                    departments=[recommender.department_of(p) for p in ids],
                    votes=candidates.votes[:, candidates.rows],
                    judged=dict(query.people),
                )
            )
        if progress is not None:
            progress("cross-fitting", fold, folds)
    out.sort(key=lambda q: (q.dataset, q.asked or datetime.min, _number(q.query_id)))
    return out


def replay(queries: Sequence[ReplayQuery], load_balance: float) -> Replay:
    """Ask every query in turn, each dataset from no exposure, with this knob."""
    shown: dict[str, Counter[str]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    exposure: dict[str, float] = {}
    last: datetime | None = None
    dataset = None
    for query in queries:
        if query.dataset != dataset:
            dataset, exposure, last = query.dataset, {}, None
            shown[dataset], runs[dataset] = Counter(), {}
        if query.asked is not None and last is not None:
            days = (query.asked - last).total_seconds() / 86400
            exposure = {p: decayed(v, days) for p, v in exposure.items()}
        last = query.asked or last
        routed = route(
            query.scores,
            query.departments,
            np.array([exposure.get(p, 0.0) for p in query.people]),
            query.votes,
            typical=typical_exposure(exposure.values()),
            asker=None,
            asker_department=None,
            cross_functional=False,
            load_balance=load_balance,
            limit=DEPTH,
        )
        listed = [query.people[int(i)] for i in routed.order]
        runs[dataset][query.query_id] = by_rank(listed)
        for rank, person in enumerate(listed[:SHOWN], start=1):
            exposure[person] = exposure.get(person, 0.0) + exposure_weight(rank)
            shown[dataset][person] += 1
    return Replay(load_balance, shown, runs)


def tradeoff(
    queries: Sequence[ReplayQuery],
    knobs: Sequence[float],
    everyone: dict[str, int],
    progress: Progress | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Every measure for every knob value: knob -> dataset (and ``pooled``) -> measure.

    Args:
        queries: from :func:`prepare`.
        knobs: the ``load_balance`` values to replay.
        everyone: per dataset, how many people its index holds (for ``gini_everyone``).
        progress: told (stage, done, total) after each knob value.
    """
    replays = []
    for done, knob in enumerate(knobs, start=1):
        replays.append(replay(queries, knob))
        if progress is not None:
            progress("replay", done, len(knobs))
    judged = {
        d: {q.query_id: q.judged for q in queries if q.dataset == d}
        for d in dict.fromkeys(q.dataset for q in queries)
    }
    base = replays[list(knobs).index(0.0)] if 0.0 in knobs else replay(queries, 0.0)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for knob, result in zip(knobs, replays, strict=True):
        row = {d: _measures(result, base, d, everyone[d], qrels) for d, qrels in judged.items()}
        row[POOLED] = _measures(
            _pooled(result), _pooled(base), POOLED, sum(everyone.values()), _pooled_qrels(judged)
        )
        table[f"{knob:g}"] = row
    return table


def markdown_table(table: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per knob value: for the pooled sets (when several), then each set, the Gini
    of exposure (and, in brackets, the same people's without load), the top-10 share,
    RR@10 and P@1."""
    knobs = list(table)
    datasets = list(table[knobs[0]])
    if len(datasets) == 2:  # one dataset and its pool, which is the same
        datasets = [d for d in datasets if d != POOLED]
    else:
        datasets = [POOLED] + [d for d in datasets if d != POOLED]
    head = ["load_balance"] + [
        f"{d} {m}"
        for d in datasets
        for m in ("Gini (without load)", "top-10 share", "RR@10", "P@1")
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for knob in knobs:
        cells = [knob]
        for d in datasets:
            m = table[knob][d]
            cells += [
                f"{m['gini']:.3f} ({m['gini_without_load']:.3f})",
                f"{m['top10_share']:.3f}",
                f"{m['RR@10']:.3f}",
                f"{m['P@1']:.3f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _measures(
    result: Replay, base: Replay, dataset: str, everyone: int, qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    shown, before = result.shown[dataset], base.shown[dataset]
    # Load moves between the people shown without it (knob 0) and those shown with it.
    population = sorted(set(before) | set(shown))
    counts = [shown.get(p, 0) for p in population]
    total = sum(shown.values())
    quality = score(qrels, result.runs[dataset], qrels)
    return {
        "gini": gini(counts),
        "gini_without_load": gini([before.get(p, 0) for p in population]),
        "gini_everyone": gini(counts + [0] * max(0, everyone - len(population))),
        "top10_share": sum(n for _, n in shown.most_common(10)) / total if total else 0.0,
        "people_shown": float(len(shown)),
        "RR@10": float(quality["RR@10"]),
        "P@1": float(quality["P@1"]),
    }


def _pooled(result: Replay) -> Replay:
    """Every dataset's replay as one, people and queries named with their dataset."""
    shown = Counter(
        {f"{d}/{p}": n for d, counts in result.shown.items() for p, n in counts.items()}
    )
    runs = {f"{d}/{q}": run for d, by_query in result.runs.items() for q, run in by_query.items()}
    return Replay(result.load_balance, {POOLED: shown}, {POOLED: runs})


def _pooled_qrels(judged: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    return {f"{d}/{q}": grades for d, by_query in judged.items() for q, grades in by_query.items()}


def _dates(collection: Collection) -> dict[str, datetime]:
    """When each query was asked, where queries.jsonl says (``created``)."""
    dates = {}
    with (collection.dataset.path / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row: dict[str, Any] = json.loads(line)
            created = row.get("created")
            if isinstance(created, str):
                try:
                    dates[str(row["id"])] = datetime.fromisoformat(created[:19])
                except ValueError:
                    continue
    return dates


def _number(query_id: str) -> float:
    digits = "".join(c for c in query_id if c.isdigit())
    return float(digits) if digits else math.inf


def plot(table: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    """Draw the trade-off: per dataset (and pooled), the exposure Gini against people
    RR@10 for each knob value, with the same people's Gini without load for reference.

    Raises:
        PipelineError: matplotlib is not installed (it comes with whoknows[dev]).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise PipelineError("--plot needs matplotlib: pip install 'whoknows[notebooks]'") from None
    knobs = list(table)
    datasets = list(table[knobs[0]])
    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4.5))
    for dataset in datasets:
        ginis = [table[k][dataset]["gini"] for k in knobs]
        rr = [table[k][dataset]["RR@10"] for k in knobs]
        share = [table[k][dataset]["top10_share"] for k in knobs]
        line = axes[0].plot(ginis, rr, marker="o", label=dataset)[0]
        axes[1].plot([float(k) for k in knobs], share, marker="o", color=line.get_color())
        for knob, x, y in zip(knobs, ginis, rr, strict=True):
            axes[0].annotate(knob, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes[0].set_xlabel("exposure Gini over the people shown (lower: load spread wider)")
    axes[0].set_ylabel("people RR@10 (cross-fitted)")
    axes[0].set_title("Quality against spread, per load_balance value")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("load_balance")
    axes[1].set_xscale("symlog", linthresh=0.5)
    axes[1].set_ylabel("share of places taken by the 10 most shown")
    axes[1].set_title("Top-10 experts' share of all recommendations")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
