"""params.yaml: what the pipeline stages and commands read from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.exceptions import ConfigurationError
from models.topics import TopicConfig
from pipelines.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_params_are_the_defaults() -> None:
    shipped, defaults = load_params(ROOT / "params.yaml"), load_params(None)
    assert shipped.config == defaults.config and shipped.train == defaults.train
    assert shipped.topics == defaults.topics == TopicConfig()
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  epoch: 2\n", "unknown train parameter.*epoch"),
        ("seed: two\n", "seed must be a whole number"),
        ("mining:\n  max_judgments: 0\n", "mining.max_judgments must be a whole number"),
        ("mining:\n  rankers_from_history: 1\n", "rankers_from_history must be true or false"),
        ("mining:\n  from_history: true\n", "unknown mining parameter"),
    ],
)
def test_unknown_or_wrong_parameters_are_named(tmp_path: Path, text: str, message: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_params(params)


def test_the_topics_section_is_read_and_seeded_by_the_top_level_seed(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("seed: 7\ntopics:\n  count: 12\n  silo_share: 0.9\n  active_days: null\n")
    topics = load_params(params).topics
    assert topics == TopicConfig(count=12, seed=7, silo_share=0.9, active_days=None)
    assert load_params(None).topics.count is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("topics:\n  clusters: 4\n", "topics: unknown topics parameter.*clusters"),
        ("topics:\n  seed: 3\n", "seeded by the top-level 'seed'; remove topics.seed"),
        ("topics:\n  silo_share: 0.4\n", "silo_share must be above 0.5"),
        ("topics: [1, 2]\n", "'topics' must be a mapping"),
    ],
)
def test_bad_topics_parameters_are_named_with_the_file(
    tmp_path: Path, section: str, message: str
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(section)
    with pytest.raises(ConfigurationError, match=message) as raised:
        load_params(params)
    assert str(params) in str(raised.value)
