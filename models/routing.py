"""Routing: who is asked, once the expertise model has scored the candidates.

The expertise model says how well each candidate's work matches a question.
Routing turns those scores into the list a person sees, so that questions
reach the right colleague without sending everybody to the same few people:

- **the asker** is never recommended to themself;
- **across functions**: when the asker wants it, a colleague of another
  department than the asker's gains ``CROSS_BONUS`` (preferred where the
  evidence is comparable), and every person says whether they cross a line;
- **load**: a person's recent exposure (how often they were recommended, by
  position, and contacted, decayed with ``HALF_LIFE_DAYS``) lowers their score
  by ``min(load_balance * log1p(exposure / typical exposure), LOAD_CAP)``, the
  typical exposure being the mean of everyone in the organisation who has any
  (not of this question's candidates alone): the more someone is asked beyond
  the average, the more their questions go to
  colleagues of comparable strength, amortised over time as in equity of
  attention (Biega et al., SIGIR 2018), but never by more than ``LOAD_CAP``;
- **diversity**: the list is picked greedily, and a candidate whose evidence
  overlaps one already listed (cosine of their votes over the query's
  documents) loses ``DIVERSITY`` times the overlap, so that a backup of
  comparable strength with other evidence is offered rather than a near-copy.

Every adjustment is in units of the spread (standard deviation) of the
query's candidate scores, so the knobs mean the same on every query and every
ranker, and each is reported as a signal of the person it moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from models.arrays import Ids, Matrix

#: What a colleague of another department gains when the asker asks across functions.
CROSS_BONUS = 0.5
#: The most that load can cost a person, in score spreads ("comparable strength"):
#: set with the load knob by replaying the dev queries (README, Routing).
LOAD_CAP = 2.0
#: What evidence identical to a listed colleague's costs (times the overlap).
DIVERSITY = 0.5
#: Exposure counts half after this many days.
HALF_LIFE_DAYS = 30.0
#: A contact weighs this much more than being recommended first.
CONTACT_WEIGHT = 2.0
#: Diversity is weighed among this many times the asked-for number of candidates.
DIVERSITY_POOL = 3


@dataclass(frozen=True, slots=True)
class Asking:
    """Who asks, and how they want colleagues routed.

    Attributes:
        asker: the asking person's id, if known; never recommended to themself.
        cross_functional: prefer colleagues of another department than the asker's.
        exposure: each person's recent exposure (see exposure_weight); missing is 0.
    """

    asker: str | None = None
    cross_functional: bool = False
    exposure: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Routed:
    """The candidates in the order they are shown, and what routing added to each.

    Attributes:
        order: indexes into the candidates, best first, at most the limit.
        adjustments: per signal (``load``, ``cross_functional``, ``diversity``), what it
            added to each candidate's score (zeros where it did not apply).
        crosses: per candidate, whether their department differs from the asker's
            (None where either is unknown).
    """

    order: Ids
    adjustments: dict[str, Matrix]
    crosses: list[bool | None]


def exposure_weight(rank: int) -> float:
    """The attention a recommendation at this 1-based rank gives (a DCG discount)."""
    return 1.0 / math.log2(rank + 1)


def typical_exposure(everyone: Iterable[float]) -> float:
    """The mean exposure of the people who have any, over the whole organisation: what a
    person's own is measured against (0.0 when nobody has any)."""
    values = np.fromiter(everyone, dtype=np.float64)
    exposed = values[values > 0]
    return float(exposed.mean()) if len(exposed) else 0.0


def decayed(weight: float, age_days: float) -> float:
    """Exposure of this age, decayed with HALF_LIFE_DAYS."""
    return float(weight * 0.5 ** (max(age_days, 0.0) / HALF_LIFE_DAYS))


def route(
    scores: Matrix,
    departments: Sequence[str | None],
    exposure: Matrix,
    votes: sparse.csc_array | None,
    *,
    typical: float,
    asker: int | None,
    asker_department: str | None,
    cross_functional: bool,
    load_balance: float,
    limit: int,
) -> Routed:
    """Order scored candidates for the list a person sees.

    Args:
        scores: the expertise model's score of each candidate.
        departments: each candidate's department.
        exposure: each candidate's recent exposure.
        typical: the typical exposure in the organisation (typical_exposure of everyone's);
            0: nobody has any, and load does not count.
        votes: (documents, candidates) evidence of each candidate over the query's
            documents, for diversity; None for none.
        asker: the asker's index among the candidates, if they are one.
        asker_department: the asker's department, if known.
        cross_functional: prefer other departments than the asker's.
        load_balance: the load knob (0: load does not count).
        limit: how many to list.
    """
    n = len(scores)
    spread = float(np.std(scores)) if n > 1 else 0.0
    spread = spread if spread > 1e-9 else 1.0
    crosses: list[bool | None] = [
        None if d is None or asker_department is None else d != asker_department
        for d in departments
    ]
    cross = np.zeros(n)
    if cross_functional:
        cross = np.array([CROSS_BONUS * spread if c else 0.0 for c in crosses])
    load = np.zeros(n)
    if load_balance > 0 and typical > 0:
        pressure = np.log1p(exposure / typical)
        load = -np.minimum(load_balance * pressure, LOAD_CAP) * spread
    adjusted = scores + cross + load
    if asker is not None:
        adjusted[asker] = -np.inf
    diversity = np.zeros(n)
    pool = [int(i) for i in np.argsort(-adjusted, kind="stable")[: DIVERSITY_POOL * limit]]
    pool = [i for i in pool if np.isfinite(adjusted[i])]
    chosen = _diverse(pool, adjusted, votes, spread, limit, diversity)
    return Routed(
        order=np.asarray(chosen, dtype=np.int64),
        adjustments={"load": load, "cross_functional": cross, "diversity": diversity},
        crosses=crosses,
    )


def _diverse(
    pool: list[int],
    adjusted: Matrix,
    votes: sparse.csc_array | None,
    spread: float,
    limit: int,
    diversity: Matrix,
) -> list[int]:
    """Greedy maximal marginal relevance: each next pick is the best after its overlap
    with those already picked; what the overlap cost is written into ``diversity``."""
    if votes is None or len(pool) <= 1:
        return pool[:limit]
    columns = votes[:, pool].toarray().T
    norms = np.linalg.norm(columns, axis=1)
    unit = np.divide(columns, norms[:, None], out=np.zeros_like(columns), where=norms[:, None] > 0)
    overlap = np.clip(unit @ unit.T, 0.0, 1.0)
    chosen: list[int] = []
    left = list(range(len(pool)))
    penalty = np.zeros(len(pool))
    while left and len(chosen) < limit:
        best = max(left, key=lambda j: (adjusted[pool[j]] - penalty[j], -j))
        chosen.append(best)
        left.remove(best)
        diversity[pool[best]] = -penalty[best]
        penalty = np.maximum(penalty, DIVERSITY * spread * overlap[best])
    return [pool[j] for j in chosen]
