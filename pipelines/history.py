"""Rankers fitted on the organisation's own history, for ``whoknows build``.

With ``mining.rankers_from_history`` in params.yaml, a build mines judgments from
the documents it has just indexed (pipelines.mining: question threads and links
named by URL), asks each mined query as of its own time, and fits the rankers
on them (pipelines.ranking.fit_rankers), so that each organisation's index ranks
by what its own history teaches, with no one labelling anything. A task with
fewer than ``mining.min_judgments`` mined queries keeps the shipped ranker: a
ranker fitted on a handful of queries is noise (the shipped defaults remain for
data without history).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.arrays import Progress
from models.ranker import LinearRanker
from models.recommender import Recommender
from pipelines import mining, ranking
from pipelines.evaluate import Dataset
from pipelines.params import MiningConfig

#: Which mined queries teach which ranker (the evidence ranker orders the
#: documents people are judged by, and learns from resource judgments).
TEACHES = {"resources": "resources", "evidence": "resources", "people": "people"}


@dataclass(frozen=True, slots=True)
class HistoryFit:
    """What fitting on history did.

    Attributes:
        counts: what was mined (pipelines.mining.Mining.counts).
        fitted: the rankers now fitted on history, by task.
        kept: the tasks that kept the ranker of the configuration (shipped, or
            named in params.yaml), with why.
        seconds: wall time of mining and fitting.
    """

    counts: dict[str, Any]
    fitted: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the index's history.json)."""
        return {
            "mined": self.counts,
            "fitted": self.fitted,
            "kept": self.kept,
            "seconds": round(self.seconds, 2),
        }


def fit_on_history(
    recommender: Recommender,
    config: MiningConfig,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[Recommender, HistoryFit]:
    """The recommender with rankers fitted on judgments mined from its own documents.

    Returns the recommender unchanged (and says why) where a task has fewer than
    ``config.min_judgments`` mined queries.
    """
    started = time.perf_counter()
    mined = mining.mine(recommender.documents, max_queries=config.max_judgments, seed=seed)
    counts = mined.counts()
    available = {
        "resources": counts["resource_queries"],
        "people": counts["people_queries"],
    }
    kept = {
        task: f"{available[needs]} mined {needs} queries, fewer than {config.min_judgments}"
        for task, needs in TEACHES.items()
        if available[needs] < config.min_judgments and task in recommender.rankers
    }
    wanted = [task for task in TEACHES if task in recommender.rankers and task not in kept]
    if not wanted:
        return recommender, HistoryFit(counts, [], kept, time.perf_counter() - started)
    dataset = Dataset(
        Path("history"),
        queries={q.id: q.text for q in mined.queries},
        qrels={
            "resources": {q.id: q.resources for q in mined.queries if q.resources},
            "people": {q.id: q.people for q in mined.queries if q.people},
        },
        as_of={q.id: q.as_of_moment() for q in mined.queries},
    )
    collection = ranking.collect(recommender, dataset, "history", progress=progress)
    learned = ranking.fit_rankers([collection], seed=seed).present()
    chosen: dict[str, LinearRanker] = {}
    for task in wanted:
        if task in learned:
            chosen[task] = learned[task]
        else:
            kept[task] = "no ranker could be fitted on the mined judgments"
    info = {"trained_on": "mined history", "mined_queries": counts["queries"]}
    chosen = {t: dataclasses.replace(r, info={**r.info, **info}) for t, r in chosen.items()}
    fitted = recommender.with_rankers(chosen) if chosen else recommender
    return fitted, HistoryFit(counts, sorted(chosen), kept, time.perf_counter() - started)
