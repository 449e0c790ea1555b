"""Evaluation of mentor matching where it is real: on Stack Exchange.

A person who asked at least ``MIN_QUESTIONS`` of a dataset's queries (questions
after the knowledge-base cutoff) is a learner; the people judged for those
queries (who actually answered them later) are the mentors they should be
matched with. Matches are computed from the knowledge base only, with
``goal="learn"``, and compared with the reference "the most active answerers of
the learner's department" by Recall@10 (the share of a learner's answerers in
the list, averaged over learners) and hit rate@10 (Success@10: the list holds
at least one of them), both computed by ir-measures.

The dataset's queries.jsonl does not say who asked; the raw data-dump files do:
the question's ``OwnerUserId`` in ``<raw>/<site>/Posts.xml``, its
``AccountId`` in ``Users.xml``, and the person id ``acct:<AccountId>`` (as the
dataset's people.jsonl names people). Query ids are ``<site>:q<post id>``.
Learners are few (16 on the dev set), so the gain comes with a paired
bootstrap interval over learners.
"""

from __future__ import annotations

import random
import re
import statistics
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
import numpy as np
from ir_measures import R, Success

from models import mentoring
from models.arrays import Progress
from models.recommender import Recommender
from pipelines.evaluate import by_rank, load_dataset
from pipelines.exceptions import DatasetError

#: The cut-off of the lists compared.
K = 10
#: How many later questions make a learner.
MIN_QUESTIONS = 2
#: Rounds of the bootstrap over learners.
BOOTSTRAP_ROUNDS = 10_000
REFERENCE = "reference"
WHOKNOWS = "whoknows"
_QUERY_ID = re.compile(r"^(?P<site>[^:]+):q(?P<post>\d+)$")

Ranker = Callable[[str], Sequence[str]]


@dataclass(frozen=True, slots=True)
class Learners:
    """Who asked at least MIN_QUESTIONS later questions, and who answered them.

    Attributes:
        truth: learner -> the people judged for their questions (never themself).
        questions: learner -> their question ids.
        askers: how many queries had a known asker.
    """

    truth: dict[str, set[str]]
    questions: dict[str, list[str]]
    askers: int = 0


@dataclass(frozen=True, slots=True)
class Score:
    """Recall@K and hit rate@K of one system, averaged over learners, and per learner."""

    recall: float
    hit_rate: float
    per_learner: dict[str, float] = field(repr=False)


@dataclass(frozen=True, slots=True)
class MentoringEvaluation:
    """The systems' scores, the relative recall gain and its bootstrap interval.

    Attributes:
        learners: how many learners were scored.
        scores: system (``whoknows``, ``reference``) -> its score.
        gain: whoknows' Recall@K over the reference's, minus 1.
        interval: the 95% paired-bootstrap interval of the gain.
        rankings: system -> learner -> the ids listed, best first.
        milliseconds: time of each whoknows call (after the first, which builds caches).
    """

    learners: int
    scores: dict[str, Score]
    gain: float
    interval: tuple[float, float]
    rankings: dict[str, dict[str, list[str]]] = field(repr=False)
    milliseconds: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        return {
            "learners": self.learners,
            "k": K,
            **{
                name: {f"recall@{K}": round(s.recall, 4), f"hit_rate@{K}": round(s.hit_rate, 4)}
                for name, s in self.scores.items()
            },
            "recall_gain": round(self.gain, 4),
            "recall_gain_95": [round(v, 4) for v in self.interval],
            "median_ms": round(statistics.median(self.milliseconds), 2)
            if self.milliseconds
            else None,
        }


def stack_exchange_askers(raw_dir: Path, query_ids: Iterable[str]) -> dict[str, str]:
    """Who asked each Stack Exchange query, as a person id ``acct:<AccountId>``.

    Queries whose question or owner is not in the dump (deleted users) are left out.

    Raises:
        DatasetError: a query id is not ``<site>:q<post id>``, or a site's dump is missing.
    """
    wanted: dict[str, dict[str, str]] = {}
    for query_id in query_ids:
        match = _QUERY_ID.match(query_id)
        if match is None:
            raise DatasetError(f"query id {query_id!r} is not <site>:q<post id>")
        wanted.setdefault(match["site"], {})[match["post"]] = query_id
    askers = {}
    for site, posts in sorted(wanted.items()):
        folder = raw_dir / site
        for name in ("Posts.xml", "Users.xml"):
            if not (folder / name).is_file():
                raise DatasetError(f"{folder / name} is missing: the site's data-dump files")
        accounts = {row["Id"]: row.get("AccountId") for row in _rows(folder / "Users.xml")}
        for row in _rows(folder / "Posts.xml"):
            asked = posts.get(row.get("Id", ""))
            account = accounts.get(row.get("OwnerUserId", ""))
            if asked is not None and account:
                askers[asked] = f"acct:{account}"
    return askers


def find_learners(
    askers: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    known: Iterable[str],
    min_questions: int = MIN_QUESTIONS,
) -> Learners:
    """Learners among the known people: askers of at least ``min_questions`` queries
    whose answerers (graded above 0) are judged."""
    people = set(known)
    asked: dict[str, list[str]] = {}
    for query_id, person in sorted(askers.items()):
        asked.setdefault(person, []).append(query_id)
    truth, questions = {}, {}
    for person, ids in asked.items():
        if len(ids) < min_questions or person not in people:
            continue
        answerers = {p for q in ids for p, g in qrels.get(q, {}).items() if g > 0} - {person}
        if answerers:
            truth[person], questions[person] = answerers, ids
    return Learners(truth, questions, len(askers))


def department_reference(recommender: Recommender) -> Ranker:
    """The reference: the people who wrote the most documents of the learner's department
    (answers count; asking does not), hidden people and the learner left out."""
    writing = recommender.evidence.writing
    departments = np.array([d.department for d in recommender.documents], dtype=object)
    people = recommender.people
    hidden = recommender.hidden_people
    counts: dict[str | None, Counter[str]] = {}
    for department in {d.department for d in recommender.documents}:
        written = writing[departments == department]
        per_person = np.asarray((written > 0).sum(axis=0)).ravel()
        counts[department] = Counter(
            {people[int(i)].id: int(per_person[i]) for i in np.flatnonzero(per_person)}
        )

    def rank(learner: str) -> list[str]:
        active = counts.get(recommender.department_of(learner), Counter())
        ordered = sorted(active.items(), key=lambda item: (-item[1], item[0]))
        return [p for p, _ in ordered if p != learner and p not in hidden][:K]

    return rank


def whoknows_matches(recommender: Recommender) -> Ranker:
    """whoknows: the mentors ``models.mentoring.matches`` lists for a learner."""

    def rank(learner: str) -> list[str]:
        found = mentoring.matches(recommender, learner, "learn", limit=K)
        return [m.person.id for m in found]

    return rank


def score(rankings: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]]) -> Score:
    """Recall@K and Success@K over the learners of ``truth`` (a learner without a list
    scores 0)."""
    qrels = {learner: dict.fromkeys(people, 1) for learner, people in truth.items()}
    run = {learner: by_rank(rankings.get(learner, ())) for learner in truth}
    recall = dict.fromkeys(truth, 0.0)
    hits = dict.fromkeys(truth, 0.0)
    for metric in ir_measures.iter_calc([R @ K, Success @ K], qrels, run):
        target = recall if str(metric.measure) == str(R @ K) else hits
        target[metric.query_id] = float(metric.value)
    n = len(truth)
    return Score(
        recall=sum(recall.values()) / n if n else 0.0,
        hit_rate=sum(hits.values()) / n if n else 0.0,
        per_learner=recall,
    )


def bootstrap_gain(
    ours: Mapping[str, float],
    theirs: Mapping[str, float],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> tuple[float, float]:
    """95% interval of mean(ours) / mean(theirs) - 1, resampling learners (paired)."""
    learners = sorted(ours)
    if not learners:
        return (0.0, 0.0)
    pick = random.Random(seed)
    gains = []
    for _ in range(rounds):
        sample = [pick.choice(learners) for _ in learners]
        base = sum(theirs[s] for s in sample)
        if base > 0:
            gains.append(sum(ours[s] for s in sample) / base - 1.0)
    gains.sort()
    if not gains:
        return (0.0, 0.0)
    return gains[int(0.025 * len(gains))], gains[min(len(gains) - 1, int(0.975 * len(gains)))]


def evaluate(
    systems: Mapping[str, Ranker],
    learners: Learners,
    *,
    progress: Progress | None = None,
) -> MentoringEvaluation:
    """Rank every learner with each system and score the lists.

    Args:
        systems: name -> ranker; ``whoknows`` and ``reference`` make the gain.
        learners: the learners and their true answerers.
        progress: told (stage, done, total) per learner.
    """
    rankings: dict[str, dict[str, list[str]]] = {}
    milliseconds: list[float] = []
    for name, rank in systems.items():
        rankings[name] = {}
        for done, learner in enumerate(sorted(learners.truth), start=1):
            began = time.perf_counter()
            rankings[name][learner] = list(rank(learner))[:K]
            if name == WHOKNOWS and done > 1:
                milliseconds.append(1000 * (time.perf_counter() - began))
            if progress is not None:
                progress(name, done, len(learners.truth))
    scores = {name: score(ranked, learners.truth) for name, ranked in rankings.items()}
    gain, interval = 0.0, (0.0, 0.0)
    if WHOKNOWS in scores and REFERENCE in scores and scores[REFERENCE].recall > 0:
        ours, theirs = scores[WHOKNOWS], scores[REFERENCE]
        gain = ours.recall / theirs.recall - 1.0
        interval = bootstrap_gain(ours.per_learner, theirs.per_learner)
    return MentoringEvaluation(len(learners.truth), scores, gain, interval, rankings, milliseconds)


def run(
    dataset_dir: Path,
    raw_dir: Path,
    recommender: Recommender,
    *,
    min_questions: int = MIN_QUESTIONS,
    progress: Progress | None = None,
) -> MentoringEvaluation:
    """Evaluate mentor matching on a Stack Exchange dataset, with an index of its
    documents (the knowledge base) and the raw dumps that say who asked.

    Raises:
        DatasetError: the dataset or the raw dumps are missing or malformed, or no
            learner is found.
    """
    dataset = load_dataset(dataset_dir)
    askers = stack_exchange_askers(raw_dir, dataset.queries)
    known = [p.id for p in recommender.people if not recommender.is_hidden(p.id)]
    learners = find_learners(askers, dataset.qrels["people"], known, min_questions)
    if not learners.truth:
        raise DatasetError(
            f"no person in {dataset_dir} asked {min_questions} judged queries "
            f"({len(askers)} of {len(dataset.queries)} queries have a known asker)"
        )
    systems = {
        WHOKNOWS: whoknows_matches(recommender),
        REFERENCE: department_reference(recommender),
    }
    return evaluate(systems, learners, progress=progress)


def markdown_table(evaluation: MentoringEvaluation) -> str:
    """The comparison as a Markdown table, then the gain and its interval."""
    lines = [
        f"| system | Recall@{K} | hit rate@{K} |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {s.recall:.3f} | {s.hit_rate:.3f} |"
            for name, s in evaluation.scores.items()
        ),
        "",
        f"{evaluation.learners} learners; Recall@{K} gain over the reference "
        f"{evaluation.gain:+.1%} (95% bootstrap over learners "
        f"{evaluation.interval[0]:+.1%} to {evaluation.interval[1]:+.1%})",
    ]
    return "\n".join(lines) + "\n"


def _rows(path: Path) -> Iterable[dict[str, str]]:
    """The attributes of each ``<row>`` of a data-dump XML file, streamed."""
    try:
        for _, element in ElementTree.iterparse(path, events=("end",)):
            if element.tag == "row":
                yield dict(element.attrib)
            element.clear()
    except ElementTree.ParseError as exc:
        raise DatasetError(f"{path}: not a Stack Exchange data-dump file ({exc})") from None
