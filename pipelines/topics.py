"""The topics stage: cluster an index's documents into topics and write the expertise map.

The output directory holds the topic model (models.topics.TopicModel, which the
service loads to answer ``GET /v1/insights/topics`` for each caller) and, for
people, the map as a trusted caller sees it: ``topics.md`` and ``topics.json``.
Those two show every document's topic, restricted ones included: they are for
the operators of the index, as the index itself is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from models.arrays import Progress
from models.artifact import check_replaceable
from models.recommender import Recommender
from models.topic_model import MODEL_FILE
from models.topics import (
    ExpertiseMap,
    Topic,
    TopicConfig,
    TopicModel,
    expertise_map,
    fit_topics,
)

SUMMARY_FILE = "topics.json"
REPORT_FILE = "topics.md"


@dataclass(frozen=True, slots=True)
class TopicsResult:
    """A fitted and saved topic model and the map it gives a trusted caller.

    Attributes:
        model: the topics of the index's documents.
        map: every topic as a trusted caller sees it.
        path: the directory written.
        seconds: wall time, loading the index included.
    """

    model: TopicModel
    map: ExpertiseMap
    path: Path
    seconds: float


def run(
    index_dir: Path,
    out_dir: Path,
    config: TopicConfig,
    progress: Progress | None = None,
) -> TopicsResult:
    """Fit topics on an index's document vectors (models.topics.fit_topics: on the
    documents everyone may see), and write them with the trusted map.

    Raises:
        ArtifactNotFoundError: no index at ``index_dir``.
        ArtifactError: ``out_dir`` is a folder whoknows did not write.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    if not (out / MODEL_FILE).is_file():
        check_replaceable(out)  # before loading the index, not after
    recommender = Recommender.load(index_dir)
    model = fit_topics(recommender, config, progress)
    trusted = expertise_map(recommender, model, config)
    summary = {
        "index_version": recommender.index_version,
        "config": config.to_dict(),
        **_model_entry(model),
    }
    extras = {
        SUMMARY_FILE: json.dumps(summary | trusted.to_dict(), indent=2, ensure_ascii=False) + "\n",
        REPORT_FILE: markdown(trusted, model, recommender.index_version),
    }
    model.save(out, extras=extras)
    return TopicsResult(model, trusted, out, time.perf_counter() - started)


def markdown(found: ExpertiseMap, model: TopicModel, index_version: str) -> str:
    """The map as a Markdown report: one table of topics, then each topic's experts."""
    lines = [
        f"# Expertise map of index {index_version}",
        "",
        f"{len(found.topics)} topics over {found.documents:,} documents "
        f"(silhouette {model.silhouette}); {len(found.silos())} silos, "
        f"{len(found.fragile())} fragile. As a trusted caller sees it: restricted "
        "documents included.",
        "",
        "| topic | label | documents | departments (expertise) | bus factor | silo | fragile |",
        "| ---: | --- | ---: | --- | ---: | --- | --- |",
    ]
    lines += [
        f"| {t.id} | {_cell(t.label)} | {t.documents} | {_cell(departments(t))} "
        f"| {t.bus_factor} | {_cell(t.silo or '')} | {'yes' if t.fragile else ''} |"
        for t in found.topics
    ]
    for topic in found.topics:
        lines += ["", f"## {topic.id}. {topic.label}", "", f"Terms: {', '.join(topic.terms)}."]
        lines += [
            f"- {e.name} ({e.department or 'no department'}): {e.documents} documents, "
            f"weight {e.weight:.2f}{'' if e.active else ', inactive'}"
            for e in topic.experts
        ]
    return "\n".join(lines) + "\n"


def departments(topic: Topic, limit: int = 3) -> str:
    """A topic's largest departments by expertise, e.g. ``"Data 50%, Engineering 50%"``."""
    shown = [d for d in topic.departments if round(d.expertise, 2) > 0][:limit]
    return ", ".join(f"{d.name} {d.expertise:.0%}" for d in shown) or "no expert"


def _model_entry(model: TopicModel) -> dict[str, object]:
    return {
        "topic_count": model.count,
        "silhouette": model.silhouette,
        "fitted_on": model.fitted_on,
        "seed": model.seed,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
