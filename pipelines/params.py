"""Experiment parameters from params.yaml (the file DVC tracks).

encoder: default            # or a local sentence-transformers folder
seed: 0                     # cross-validation folds, fine-tuning, topic clustering
recommender: {...}          # models.config.RecommenderConfig fields
train: {...}                # models.finetune.FineTuneConfig fields
topics: {...}               # models.topics.TopicConfig fields but the seed
mining: {...}               # MiningConfig fields
ingest: {...}               # pipelines.ingest.limits.IngestConfig fields
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.config import RecommenderConfig, reject_unknown
from models.exceptions import ConfigurationError
from models.finetune import FineTuneConfig
from models.topics import TopicConfig
from pipelines.ingest.limits import IngestConfig, Limits

SECTION = "recommender"
DEFAULT_ENCODER = "default"


@dataclass(frozen=True, slots=True)
class MiningConfig:
    """Judgments mined from history (pipelines.mining) and the rankers they teach.

    Attributes:
        rankers_from_history: ``whoknows build`` fits the rankers on judgments
            mined from the documents being indexed, where there are enough.
        max_judgments: mine at most this many queries (a sample past that).
        min_judgments: a ranker learns from mined history only with at least this
            many mined queries of its kind; with fewer it stays the shipped one.
    """

    rankers_from_history: bool = False
    max_judgments: int = 2000
    min_judgments: int = 50

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MiningConfig:
        """Checked values of the ``mining`` section.

        Raises:
            ConfigurationError: an unknown name or a value of the wrong kind.
        """
        reject_unknown(values, cls, "mining")
        made = cls(**values)
        if not isinstance(made.rankers_from_history, bool):
            raise ConfigurationError("mining.rankers_from_history must be true or false")
        for name in ("max_judgments", "min_judgments"):
            value = getattr(made, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"mining.{name} must be a whole number >= 1")
        return made


@dataclass(frozen=True, slots=True)
class Params:
    """Every parameter of the offline pipeline.

    Attributes:
        config: build and ranking parameters.
        encoder: a local model folder, or None for the bundled default.
        seed: seeds cross-validation folds, fine-tuning and topic clustering.
        train: fine-tuning parameters.
        topics: expertise map parameters (seeded by ``seed``).
        mining: judgments mined from history, and rankers fitted on them by ``build``.
        ingest: how large one ingested document may be.
    """

    config: RecommenderConfig = field(default_factory=RecommenderConfig)
    encoder: Path | None = None
    seed: int = 0
    train: FineTuneConfig = field(default_factory=FineTuneConfig)
    topics: TopicConfig = field(default_factory=TopicConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)

    def limits(self) -> Limits:
        """The ingestion limits, counting passages of the recommender's passage size."""
        return Limits(self.ingest, self.config.passage_tokens, self.config.passage_overlap)


def load_params(path: Path | None) -> Params:
    """All parameters of a params file (the defaults if path is None).

    Relative encoder and ranker paths are read from the params file's folder.

    Raises:
        ConfigurationError: the file is missing, not YAML, or names unknown parameters.
    """
    if path is None:
        return Params()
    data = _read(path)
    try:
        config = RecommenderConfig.from_dict(_section(data, SECTION, path))
        train_values = _section(data, "train", path)
        reject_unknown(train_values, FineTuneConfig, "train")
        train = FineTuneConfig(**train_values)
        mining = MiningConfig.from_dict(_section(data, "mining", path))
        ingest = IngestConfig.from_dict(_section(data, "ingest", path))
    except (ConfigurationError, TypeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    encoder = data.get("encoder", DEFAULT_ENCODER)
    if not isinstance(encoder, str) or not encoder:
        raise ConfigurationError(f"{path}: encoder must be 'default' or a model folder")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigurationError(f"{path}: seed must be a whole number")
    topics = _topics(_section(data, "topics", path), seed, path)
    folder = None if encoder == DEFAULT_ENCODER else (Path(path).parent / encoder)
    # Ranker files too are read from the params file's folder, as the encoder is.
    config = dataclasses.replace(
        config,
        resource_ranker=_beside(path, config.resource_ranker),
        people_ranker=_beside(path, config.people_ranker),
        evidence_ranker=_beside(path, config.evidence_ranker),
    )
    return Params(
        config=config,
        encoder=folder,
        seed=seed,
        train=train,
        topics=topics,
        mining=mining,
        ingest=ingest,
    )


def _topics(values: dict[str, Any], seed: int, path: Path) -> TopicConfig:
    """The ``topics`` section, seeded by the top-level seed (one seed per experiment)."""
    if "seed" in values:
        raise ConfigurationError(
            f"{path}: topics are seeded by the top-level 'seed'; remove topics.seed"
        )
    try:
        return TopicConfig.from_dict({**values, "seed": seed})
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: topics: {exc}") from exc


def _beside(params_file: Path, value: str | None) -> str | None:
    if value is None or Path(value).is_absolute():
        return value
    return str(Path(params_file).parent / value)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the params file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"the params file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must be a mapping of section: values")
    return data


def _section(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"{path}: '{name}' must be a mapping of parameter: value")
    return section
