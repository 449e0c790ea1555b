"""Learned rankers: a linear model over per-query standardised features.

For each query the candidates' features are compared with each other. Scores
without a natural unit (cosine, BM25, vote sums) become z-scores within the
query, so a ranker learned on one collection transfers to another whose raw
scores live on another scale. Counts with a unit (log activity, number of top
documents) are only centred: a feature that barely varies in a query stays
small instead of being blown up to the scale of the others. The score is a
weighted sum, so every result can say how much each signal added.

Rankers are fitted with scikit-learn's logistic regression on relevance
judgments, each query weighted equally, and saved as small JSON files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.arrays import Matrix, Vectors
from models.exceptions import ConfigurationError
from models.features import Features

FORMAT = "whoknows-ranker"
FORMAT_VERSION = 1
TASKS = ("resources", "people")
#: One query's candidates: their feature matrix (columns as named to fit()) and grades.
Group = tuple[Matrix, npt.NDArray[np.int64]]


SCALINGS = ("z", "centre")


def standardise(features: Matrix, scaling: Sequence[str] | None = None) -> Matrix:
    """Each feature compared across one query's candidates.

    Args:
        features: (candidates, features).
        scaling: per feature, ``z`` (z-score; 0 where it does not vary) or
            ``centre`` (minus the query's mean); all ``z`` if None.
    """
    features = np.asarray(features, dtype=np.float64)
    if len(features) == 0:
        return features
    spread = features.std(axis=0)
    centred = features - features.mean(axis=0)
    z: Matrix = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-9)
    if scaling is not None:
        keep = np.array([s == "centre" for s in scaling], dtype=bool)
        z[:, keep] = centred[:, keep]
    return z


@dataclass(frozen=True, slots=True)
class LinearRanker:
    """score = Σ weight_i · x_i, with x_i feature i compared within the query.

    Attributes:
        task: ``resources`` or ``people``.
        features: feature names, in column order.
        weights: one weight per feature.
        scaling: per feature, ``z`` or ``centre`` (see standardise).
        info: how it was trained: data, queries, regularisation.
    """

    task: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    scaling: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigurationError(f"ranker task must be one of {TASKS}, not {self.task!r}")
        if len(self.features) != len(self.weights):
            raise ConfigurationError("a ranker needs exactly one weight per feature")
        if not self.scaling:
            object.__setattr__(self, "scaling", ("z",) * len(self.features))
        if len(self.scaling) != len(self.features) or not set(self.scaling) <= set(SCALINGS):
            raise ConfigurationError(
                f"a ranker needs one scaling per feature, each one of {SCALINGS}"
            )

    def check_features(self, available: Sequence[str]) -> None:
        """Refuse a ranker that needs features this version does not compute."""
        missing = [f for f in self.features if f not in available]
        if missing:
            raise ConfigurationError(
                f"the {self.task} ranker uses unknown features {missing}; known: {list(available)}"
            )

    def contributions(self, features: Features) -> Features:
        """Per candidate and feature, weight times scaled value: what each signal added.

        The ranker's features are picked from ``features`` by name.

        Raises:
            KeyError: ``features`` lacks one of the ranker's features.
        """
        values = features.select(self.features).values
        return Features(self.features, standardise(values, self.scaling) * np.asarray(self.weights))

    def score(self, features: Features) -> Vectors:
        """One score per candidate; higher is better."""
        scores: Vectors = self.contributions(features).values.sum(axis=1).astype(np.float32)
        return scores

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "task": self.task,
            "weights": dict(zip(self.features, self.weights, strict=True)),
            "scaling": dict(zip(self.features, self.scaling, strict=True)),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "ranker") -> LinearRanker:
        """Read the JSON form, checking it.

        Raises:
            ConfigurationError: not a ranker file, or of another version.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigurationError(f"{source} is not a whoknows ranker")
        if data.get("format_version") != FORMAT_VERSION:
            raise ConfigurationError(
                f"{source} has ranker format {data.get('format_version')}, "
                f"this whoknows reads {FORMAT_VERSION}"
            )
        weights = data.get("weights")
        if not isinstance(weights, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in weights.values()
        ):
            raise ConfigurationError(f"{source}: weights must map feature names to finite numbers")
        scaling = data.get("scaling") or {}
        if not isinstance(scaling, dict):
            raise ConfigurationError(f"{source}: scaling must map feature names to z or centre")
        return cls(
            task=str(data.get("task")),
            features=tuple(weights),
            weights=tuple(float(v) for v in weights.values()),
            scaling=tuple(str(scaling.get(f, "z")) for f in weights),
            info=dict(data.get("info") or {}),
        )

    def save(self, path: Path) -> None:
        """Write the JSON file."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearRanker:
        """Read a JSON file written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the ranker {path}: {exc}") from exc
        return cls.from_dict(data, str(path))


def default_ranker(name: str) -> LinearRanker:
    """A shipped ranker (resources, people or evidence), learned on the dev judgments."""
    path = Path(__file__).with_name("rankers") / f"{name}.json"
    return LinearRanker.from_dict(json.loads(path.read_text("utf-8")), f"default {name} ranker")


def query_weights(grades: npt.NDArray[np.int64]) -> Matrix:
    """Training weights of one query's candidates, summing to 1.

    Its relevant candidates share half the weight and the others the other
    half, so a query counts the same whatever its number of candidates or of
    relevant ones.
    """
    relevant = grades > 0
    n_relevant = int(relevant.sum())
    if n_relevant in (0, len(grades)):
        return np.full(len(grades), 1.0 / max(1, len(grades)))
    weights: Matrix = np.where(relevant, 0.5 / n_relevant, 0.5 / (len(grades) - n_relevant))
    return weights


def fit(
    task: str,
    features: Sequence[str],
    groups: Sequence[Group],
    *,
    scaling: Sequence[str] | None = None,
    regularisation: float = 0.1,
    info: dict[str, Any] | None = None,
) -> LinearRanker:
    """Learn weights from judged queries.

    Each query counts equally, however many candidates and relevant items it
    has: its relevant candidates share half its weight and the others the other
    half. Queries without both kinds teach nothing and are left out.

    Args:
        task: ``resources`` or ``people``.
        features: the names of the feature columns.
        groups: per query, its candidates' features and relevance grades.
        scaling: per feature, ``z`` or ``centre``; all ``z`` if None.
        regularisation: inverse strength C of the L2 penalty.
        info: extra facts to record in the ranker.

    Raises:
        ConfigurationError: no query has both a relevant and an irrelevant candidate.
    """
    from sklearn.linear_model import LogisticRegression

    scales = tuple(scaling) if scaling is not None else ("z",) * len(features)
    xs, ys, ws = [], [], []
    for matrix, grades in groups:
        if int((grades > 0).sum()) in (0, len(grades)):
            continue
        xs.append(standardise(matrix, scales))
        ys.append(grades > 0)
        ws.append(query_weights(grades))
    if not xs:
        raise ConfigurationError("no judged query has both relevant and other candidates")
    model = LogisticRegression(C=regularisation, max_iter=5000)
    model.fit(np.concatenate(xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
    details = {"queries": len(xs), "regularisation": regularisation, **(info or {})}
    weights = tuple(float(w) for w in model.coef_[0])
    return LinearRanker(task, tuple(features), weights, scales, details)


#: Inverse L2 strengths tried by choose_regularisation, weakest penalty last.
REGULARISATION_GRID = (0.01, 0.1, 1.0, 10.0)


def choose_regularisation(
    task: str,
    features: Sequence[str],
    groups: Sequence[Group],
    *,
    scaling: Sequence[str] | None = None,
    grid: Sequence[float] = REGULARISATION_GRID,
    folds: int = 3,
    seed: int = 0,
    default: float = 0.1,
) -> float:
    """The L2 strength that ranks held-out queries best (nDCG@10, k-fold over the
    queries): strong with few judged queries, weaker with thousands of mined ones.

    Ties go to the stronger penalty. With fewer than two queries per fold that
    can teach anything, ``default``.
    """
    from sklearn.model_selection import KFold

    usable = [g for g in groups if 0 < int((g[1] > 0).sum()) < len(g[1])]
    if len(usable) < 2 * folds:
        return default
    scales = tuple(scaling) if scaling is not None else ("z",) * len(features)
    splits = list(KFold(folds, shuffle=True, random_state=seed).split(usable))
    best: tuple[float, float] | None = None
    for strength in sorted(grid):
        gains = []
        for train, test in splits:
            ranker = fit(
                task,
                features,
                [usable[i] for i in train],
                scaling=scales,
                regularisation=strength,
            )
            weights = np.asarray(ranker.weights)
            for i in test:
                matrix, grades = usable[i]
                gains.append(ndcg_at(standardise(matrix, scales) @ weights, grades))
        mean = float(np.mean(gains))
        if best is None or mean > best[0] + 1e-9:
            best = (mean, strength)
    assert best is not None
    return best[1]


def ndcg_at(scores: Matrix, grades: npt.NDArray[np.int64], k: int = 10) -> float:
    """nDCG@k of candidates ordered by score (ties kept in candidate order)."""
    order = np.argsort(-scores, kind="stable")[:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = (2.0 ** grades[order] - 1.0) @ discounts[: len(order)]
    ideal_grades = np.sort(grades)[::-1][:k]
    ideal = (2.0**ideal_grades - 1.0) @ discounts[: len(ideal_grades)]
    return float(gains / ideal) if ideal > 0 else 0.0
