from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ConfigurationError
from models.expertise import PEOPLE_FEATURES
from models.features import Features
from models.ranker import LinearRanker, default_ranker, fit, query_weights, standardise
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
