"""params.yaml: what the pipeline stages and commands read from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.exceptions import ConfigurationError
from pipelines.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_params_are_the_defaults() -> None:
    shipped, defaults = load_params(ROOT / "params.yaml"), load_params(None)
    assert shipped.config == defaults.config and shipped.train == defaults.train
    assert shipped.encoder is None and shipped.seed == 0


def test_relative_paths_are_read_from_the_params_folder(tmp_path: Path) -> None:
    params = tmp_path / "exp" / "params.yaml"
    params.parent.mkdir()
    params.write_text(
        "encoder: models/tuned\n"
        "recommender:\n  resource_ranker: rankers/resources.json\n"
        f"  people_ranker: {tmp_path / 'people.json'}\n"
    )
    loaded = load_params(params)
    assert loaded.encoder == params.parent / "models" / "tuned"
    assert loaded.config.resource_ranker == str(params.parent / "rankers" / "resources.json")
    assert loaded.config.people_ranker == str(tmp_path / "people.json")


def test_unknown_or_wrong_parameters_are_named(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epoch: 2\n")
    with pytest.raises(ConfigurationError, match="unknown train parameter.*epoch"):
        load_params(params)
    params.write_text("seed: two\n")
    with pytest.raises(ConfigurationError, match="seed must be a whole number"):
        load_params(params)
