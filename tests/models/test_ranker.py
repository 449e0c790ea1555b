from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ConfigurationError
from models.expertise import PEOPLE_FEATURES
from models.features import Features
from models.ranker import (
    REGULARISATION_GRID,
    LinearRanker,
    choose_regularisation,
    default_ranker,
    fit,
    ndcg_at,
    query_weights,
    standardise,
)
from models.retrieval import RESOURCE_FEATURES


def test_standardise_z_scores_or_centres_per_feature() -> None:
    x = np.array([[1.0, 10.0, 5.0], [3.0, 10.0, 7.0]])
    z = standardise(x, ("z", "z", "centre"))
    np.testing.assert_allclose(z, [[-1, 0, -1], [1, 0, 1]])


def test_fit_learns_which_feature_marks_relevance() -> None:
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(40):
        features = rng.normal(size=(30, 2))
        grades = (features[:, 1] > 1.0).astype(np.int64)
        grades[0] = 1
        features[0, 1] = 2.0
        groups.append((features, grades))
    ranker = fit("resources", ("noise", "signal"), groups, regularisation=1.0)
    assert ranker.weights[1] > 5 * abs(ranker.weights[0])
    assert ranker.info["queries"] == 40


def test_contributions_add_up_to_the_score() -> None:
    ranker = LinearRanker("people", ("a", "b"), (2.0, -1.0), ("z", "centre"))
    x = Features(
        ("b", "unused", "a"), np.array([[0.0, 9.0, 1.0], [2.0, 9.0, 3.0], [4.0, 9.0, 5.0]])
    )
    contributions = ranker.contributions(x)
    assert contributions.names == ("a", "b"), "columns are picked by name, in the ranker's order"
    np.testing.assert_allclose(contributions.values.sum(axis=1), ranker.score(x), rtol=1e-6)
    np.testing.assert_allclose(contributions.column("a"), [-2.4495, 0.0, 2.4495], atol=1e-4)
    np.testing.assert_allclose(contributions.column("b"), [2.0, 0.0, -2.0])
    with pytest.raises(KeyError, match="'b'"):
        ranker.score(x.select(("a",)))


def test_json_round_trip_and_bad_files(tmp_path: Path) -> None:
    ranker = LinearRanker(
        "resources", ("dense", "lexical"), (0.5, 0.25), ("z", "z"), {"queries": 3}
    )
    ranker.save(tmp_path / "r.json")
    assert LinearRanker.load(tmp_path / "r.json") == ranker
    (tmp_path / "bad.json").write_text(
        json.dumps({"format": "whoknows-ranker", "format_version": 9})
    )
    with pytest.raises(ConfigurationError, match="format 9"):
        LinearRanker.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigurationError, match="cannot read the ranker"):
        LinearRanker.load(tmp_path / "broken.json")
    with pytest.raises(ConfigurationError, match="unknown features"):
        ranker.check_features(("dense",))


def test_the_shipped_rankers_use_known_features() -> None:
    default_ranker("resources").check_features(RESOURCE_FEATURES)
    default_ranker("people").check_features(PEOPLE_FEATURES)
    assert default_ranker("people").info["queries"] > 100


def test_every_query_weighs_the_same_in_training() -> None:
    weights = query_weights(np.array([1, 0, 0, 0]))
    assert weights.sum() == pytest.approx(1.0) and weights[0] == pytest.approx(0.5)
    many = query_weights(np.array([2, 1, 0] + [0] * 297))
    assert many.sum() == pytest.approx(1.0)


def test_non_finite_weights_are_refused() -> None:
    data = {
        "format": "whoknows-ranker",
        "format_version": 1,
        "task": "people",
        "weights": {"model2": float("nan")},
    }
    with pytest.raises(ConfigurationError, match="finite"):
        LinearRanker.from_dict(data)


def _contrast_groups(queries: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Relevance is a small difference between two nearly equal features: only a
    weak penalty lets the ranker weigh them against each other."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(queries):
        shared = rng.normal(size=40) * 10
        small = rng.normal(size=40)
        features = np.column_stack([shared + small, shared])
        grades = (small > 1.2).astype(np.int64)
        grades[0], features[0, 0] = 1, shared[0] + 2.5
        groups.append((features, grades))
    return groups


def test_the_regularisation_is_chosen_on_held_out_training_queries() -> None:
    groups = _contrast_groups(60)
    chosen = choose_regularisation("resources", ("a", "b"), groups, seed=0)
    assert chosen == max(REGULARISATION_GRID)
    weak = fit("resources", ("a", "b"), groups, regularisation=chosen)
    assert weak.weights[0] > 0 > weak.weights[1]  # the contrast, learned
    held_out = _contrast_groups(30, seed=1)

    def mean_ndcg(strength: float) -> float:
        ranker = fit("resources", ("a", "b"), groups, regularisation=strength)
        return float(np.mean([ndcg_at(m @ np.asarray(ranker.weights), g) for m, g in held_out]))

    assert mean_ndcg(chosen) > mean_ndcg(min(REGULARISATION_GRID)) + 0.05


def test_a_perfect_signal_ties_and_keeps_the_strongest_penalty() -> None:
    rng = np.random.default_rng(1)
    groups = []
    for _ in range(30):
        features = rng.normal(size=(20, 1))
        grades = np.zeros(20, dtype=np.int64)
        grades[np.argmax(features[:, 0])] = 1
        groups.append((features, grades))
    # one feature: every strength ranks each query perfectly
    assert choose_regularisation("people", ("signal",), groups) == min(REGULARISATION_GRID)


def test_too_few_queries_keep_the_default_regularisation() -> None:
    groups = _contrast_groups(5)
    assert choose_regularisation("resources", ("a", "b"), groups, default=0.7) == 0.7


def test_ndcg_of_a_ranking() -> None:
    grades = np.array([0, 2, 1], dtype=np.int64)
    assert ndcg_at(np.array([0.0, 2.0, 1.0]), grades) == pytest.approx(1.0)
    worst = (1 / np.log2(3) + 3 / np.log2(4)) / (3 + 1 / np.log2(3))
    assert ndcg_at(np.array([2.0, 0.0, 1.0]), grades) == pytest.approx(worst)
