"""Mentor matching: pair a person with colleagues whose expertise complements theirs.

What people asked about counts as wanting to learn it, what they wrote and
answered as able to mentor it; declared ``wants_to_learn`` topics count as
``DECLARED_WANT`` questions, and a declared ``can_mentor`` topic as a document
of its own worth ``DECLARED_PRIOR`` documents. A pair (learner, mentor) scores
the same from both sides: ``goal="learn"`` lists a learner's mentors,
``goal="mentor"`` a mentor's learners.

- **fit**: ``log`` of how much the mentor wrote on what the learner wants:
  document-centric expert finding (Balog's Model 2) with the learner's wants as
  queries. Each wanted item spreads over its ``DOCUMENTS_PER_WANT`` most similar
  documents (softmax of cosine over ``TEMPERATURE``), where the mentor's
  evidence (role and age, as models.evidence weighs it) is collected: it grows
  with topical closeness and activity, and most for whoever answered the
  learner before (their question is its own nearest document). The wants are
  smoothed with the learner's department's documents (Jelinek-Mercer,
  ``OWN_WANTS``), so a learner who asked nothing gets their department's most
  active writers; ``OWN_WANTS = 0`` is the reference "most active answerers of
  the learner's department" (pipelines.mentoring measures both).
- **reciprocity**: both sides of the gap, ``log(fit / (fit + need))``, need being
  how much the mentor asks about the same things themself, plus
  ``log(fit / (fit + own))``, own being the learner's strength in what they want:
  a learner already strong needs a mentor well ahead of them.
- **capacity** (``goal="learn"``): a mentor with much recent exposure (``load``,
  as in models.routing) loses ``min(log1p(load / mean), LOAD_CAP)``.
- **cross_functional**, when asked for: a colleague of another department gains
  ``CROSS_BONUS`` (log 2, as if their evidence were doubled); colleagues of the
  same department are preferred less, never removed.

A pair is listed when the mentor covers at least ``MIN_FIT`` of the learner's
wants, or (for a learner) writes in the learner's department. Only documents the
caller's groups may see count, for anyone's wants and strengths, so a hidden
document never places a person in a match; hidden people never appear. The
pairwise parts are computed once per visibility and cached per recommender, so
a call costs a few sparse products (models.mentoring_space).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models.arrays import Matrix
from models.exceptions import InvalidQueryError, UnknownPersonError
from models.mentoring_space import Goal, space_of
from models.records import Document, Person
from models.routing import typical_exposure

if TYPE_CHECKING:
    from models.recommender import Recommender

__all__ = ["GOALS", "MAX_MATCHES", "Goal", "Match", "matches"]

GOALS: tuple[Goal, ...] = ("learn", "mentor")
#: The most matches one call may ask for.
MAX_MATCHES = 100
#: What a colleague of another department gains when asked for.
CROSS_BONUS = math.log(2.0)
#: The most that load can cost a mentor.
LOAD_CAP = 2.0


@dataclass(frozen=True, slots=True)
class Match:
    """A colleague paired with the person, and why.

    Attributes:
        person: the colleague: a mentor for ``goal="learn"``, a learner for ``"mentor"``.
        score: the pair's score (higher is better; compare within one answer).
        reason: one sentence a person can read.
        topics: what the pair shares: declared topics that matched, then tags of the
            learner's questions that the mentor's documents carry (the mentor's tags
            when the learner's questions have none, or only a department ties them).
        crosses: whether the colleague's department differs from the person's
            (None where either is unknown).
        signals: the parts of the score (``fit``, ``reciprocity``, ``capacity``,
            ``cross_functional``), then, not added, ``documents`` (the mentor's
            documents behind the fit) and ``history`` (the learner's questions the
            mentor answered).
        evidence: the mentor's documents behind the match (for ``goal="mentor"`` the
            learner's questions), all visible to the caller.
    """

    person: Person
    score: float
    reason: str
    topics: tuple[str, ...]
    crosses: bool | None
    signals: dict[str, float]
    evidence: tuple[Document, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the person as ``Person.shown()`` shows them."""
        return {
            "person": self.person.shown(),
            "score": round(self.score, 4),
            "reason": self.reason,
            "topics": list(self.topics),
            "crosses": self.crosses,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
            "evidence": [{"id": d.id, "title": d.title, "url": d.url} for d in self.evidence],
        }


def matches(
    recommender: Recommender,
    person_id: str,
    goal: Goal,
    *,
    cross_functional: bool = False,
    groups: tuple[str, ...] | None = None,
    limit: int = 10,
    load: Mapping[str, float] | None = None,
) -> list[Match]:
    """Mentors for a learner (``goal="learn"``) or learners for a mentor (``"mentor"``).

    Args:
        recommender: the index.
        person_id: whose matches.
        goal: ``learn``: the person wants to learn, list mentors; ``mentor``: the
            person mentors, list learners who want what they know.
        cross_functional: prefer colleagues of another department than the person's.
        groups: the caller's groups; only documents they may see count (None: trusted).
        limit: how many matches, 1 to MAX_MATCHES.
        load: each person's recent exposure (models.routing); missing is 0.

    Raises:
        UnknownPersonError: no such person, or a hidden one.
        InvalidQueryError: an unknown goal, or a limit out of range.
    """
    if goal not in GOALS:
        raise InvalidQueryError(f"goal must be learn or mentor, not {goal!r}", field="goal")
    if not 1 <= limit <= MAX_MATCHES:
        raise InvalidQueryError(f"limit must be between 1 and {MAX_MATCHES}", field="limit")
    if not recommender.has_person(person_id) or recommender.is_hidden(person_id):
        raise UnknownPersonError(f"no person with id {person_id!r}")
    space = space_of(recommender, recommender.visible_documents(groups))
    row, people = space.rows[person_id], recommender.people
    pairs = space.pairs(row, goal)
    home = people[row].department
    crosses = [None if None in (p.department, home) else p.department != home for p in people]
    capacity = np.zeros(len(people))
    if goal == "learn" and load:
        capacity = _capacity(space.rows, load)
    cross = np.array([CROSS_BONUS if cross_functional and c else 0.0 for c in crosses])
    score = pairs.fit + pairs.reciprocity + capacity + cross
    eligible = pairs.eligible.copy()
    eligible[row] = False
    eligible[[space.rows[p] for p in recommender.hidden_people]] = False
    candidates = np.flatnonzero(eligible)
    order = candidates[np.lexsort((candidates, -score[candidates]))][:limit]
    found = []
    for i in (int(o) for o in order):
        learner, mentor = (row, i) if goal == "learn" else (i, row)
        why = space.explain(learner, mentor, goal)
        signals = {
            "fit": pairs.fit[i],
            "reciprocity": pairs.reciprocity[i],
            "capacity": capacity[i],
            "cross_functional": cross[i],
            "documents": why.documents,
            "history": why.history,
        }
        found.append(
            Match(
                person=people[i],
                score=float(score[i]),
                reason=why.sentence(people[learner], people[mentor], goal, capacity[i] < 0),
                topics=why.topics,
                crosses=crosses[i],
                signals={k: float(v) for k, v in signals.items()},
                evidence=why.evidence,
            )
        )
    return found


def _capacity(rows: Mapping[str, int], load: Mapping[str, float]) -> Matrix:
    """What recent exposure costs each person: ``-min(log1p(load / typical), LOAD_CAP)``,
    typical being the organisation's typical exposure, as routing measures it."""
    exposure = np.zeros(len(rows))
    for person, value in load.items():
        if person in rows and value > 0:
            exposure[rows[person]] = value
    typical = typical_exposure(exposure)
    if typical <= 0:
        return exposure
    return -np.minimum(np.log1p(exposure / typical), LOAD_CAP)
