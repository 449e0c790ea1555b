"""The expertise map the service serves: the loaded index's topic model, and each caller's map.

The topic model comes from the topics stage (``whoknows topics``, dvc.yaml), named
by WHOKNOWS_TOPICS_DIR; without one, the service fits it on the index when the
index loads (seconds for thousands of documents). Each caller's map is computed
from what their groups may see (models.topics) and kept for the next caller of
the same groups, until someone opts out or the index changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from models.exceptions import ConfigurationError
from models.recommender import Recommender
from models.topics import ExpertiseMap, TopicConfig, TopicModel, expertise_map, fit_topics
from pipelines.topics import SUMMARY_FILE  # where the stage records its parameters

log = logging.getLogger("whoknows.serving")

#: Maps kept, one per combination of groups (and of hidden people).
CACHED_MAPS = 64


class Topics:
    """The topic model of the served index, and the maps already computed.

    Args:
        model: which topic each document of the index is in.
        config: how topics are described (silo share, activity, terms).
    """

    def __init__(self, model: TopicModel, config: TopicConfig) -> None:
        self.model = model
        self.config = config
        self._maps: OrderedDict[tuple[object, ...], ExpertiseMap] = OrderedDict()
        self._lock = threading.Lock()

    def map_for(self, recommender: Recommender, groups: tuple[str, ...] | None) -> ExpertiseMap:
        """The map a caller of these groups may see (None: a trusted caller)."""
        key = (
            recommender.index_version,
            None if groups is None else frozenset(groups),
            recommender.hidden_people,
        )
        with self._lock:
            found = self._maps.get(key)
            if found is not None:
                self._maps.move_to_end(key)
                return found
        made = expertise_map(recommender, self.model, self.config, groups)
        with self._lock:
            self._maps[key] = made
            while len(self._maps) > CACHED_MAPS:
                self._maps.popitem(last=False)
        return made


def load_topics(recommender: Recommender, directory: Path | None) -> Topics:
    """The topics of a loaded index: read from the topics stage's directory, or fitted
    now with the default parameters when there is none.

    Raises:
        ArtifactNotFoundError, ArtifactFormatError: the directory holds no topic model,
            a damaged one, or one of another index's documents.
    """
    if directory is None:
        started = time.perf_counter()
        config = TopicConfig()
        model = fit_topics(recommender, config)
        log.info(
            "fitted %d topics on the index in %.1f s (no WHOKNOWS_TOPICS_DIR)",
            model.count,
            time.perf_counter() - started,
        )
        return Topics(model, config)
    model = TopicModel.load(directory)
    model.check([d.id for d in recommender.documents], f"index {recommender.index_version}")
    return Topics(model, _config_of(directory))


def _config_of(directory: Path) -> TopicConfig:
    """The parameters the topics stage used (its summary records them), else the defaults."""
    try:
        recorded = json.loads((directory / SUMMARY_FILE).read_text(encoding="utf-8"))["config"]
        return TopicConfig.from_dict(recorded)
    except (OSError, ValueError, KeyError, TypeError):
        return TopicConfig()
    except ConfigurationError as exc:
        log.warning("%s records unusable topic parameters (%s); using the defaults", directory, exc)
        return TopicConfig()
