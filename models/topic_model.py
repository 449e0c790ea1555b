"""Topics of the documents: k-means over their embeddings, fitted once per build.

The model is the assignment of every document of an index to a topic, and the
topics' centroids. It may be fitted on some documents only (pipelines.topics
fits it on those everyone may see), the others joining their nearest topic, and
is saved as plain files (JSON and .npy, no pickle) in a directory written
all-or-nothing, like an index.

When the number of topics is not given it is ``sqrt(documents / 2)``, the
classic rule of thumb, between AUTO_BOUNDS. The silhouette (cosine) is reported,
not used to choose: on sentence embeddings it falls steadily with the number of
topics (Stack Exchange dev: 0.14 at 4 topics, 0.10 at 16, 0.08 at 31, 0.07 at
62), so choosing by it always picks the fewest topics tried, too coarse for a
map of who knows what.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from models.arrays import Ids, Mask, Progress, Vectors
from models.artifact import atomic_directory
from models.config import check_whole, is_number, reject_unknown
from models.exceptions import (
    ArtifactFormatError,
    ArtifactNotFoundError,
    ConfigurationError,
    UnknownResourceError,
)

FORMAT = "whoknows-topics"
FORMAT_VERSION = 1
#: The file that marks a topics directory and describes the model.
MODEL_FILE = "topic-model.json"
ASSIGNMENTS_FILE = "assignments.npy"
CENTROIDS_FILE = "centroids.npy"
#: The fewest and most topics chosen when none is asked for (a heat map of more
#: than 50 columns is no longer read).
AUTO_BOUNDS = (2, 50)
#: Documents the silhouette is computed on (a seeded sample: it is quadratic).
SILHOUETTE_SAMPLE = 2000
#: k-means restarts.
RESTARTS = 3


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """Parameters of the expertise map (params.yaml: ``topics``, and the top-level seed).

    Attributes:
        count: how many topics; None: sqrt(documents / 2), between 2 and 50.
        seed: seeds the clustering.
        label_terms: distinctive terms reported per topic (the label shows three).
        silo_share: a department holding at least this share of a topic's expertise
            makes the topic a silo. 0.75: "most" read as a clear majority, the other
            departments together holding a third of what it holds or less; a
            60/40 topic is shared, the opposite of a silo.
        experts_per_topic: experts listed per topic (the bus factor counts them all).
        active_days: how long after their last written contribution a person still
            counts as present (None: everyone does). A year, as the evidence
            half-life: who wrote nothing for a year is taken to have moved on.
    """

    count: int | None = None
    seed: int = 0
    label_terms: int = 5
    silo_share: float = 0.75
    experts_per_topic: int = 5
    active_days: float | None = 365.0

    def __post_init__(self) -> None:
        check_whole(self, "count", 1, 1000, optional=True)
        check_whole(self, "seed", 0, 2**32 - 1)
        check_whole(self, "label_terms", 1, 50)
        check_whole(self, "experts_per_topic", 0, 1000)
        share = self.silo_share
        if not is_number(share) or not 0.5 < share <= 1:
            raise ConfigurationError(f"silo_share must be above 0.5 and at most 1, not {share!r}")
        days = self.active_days
        if days is not None and (not is_number(days) or days <= 0):
            raise ConfigurationError(f"active_days must be a number > 0 or null, not {days!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as in params.yaml."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopicConfig:
        """Read parameters, rejecting names that are not parameters.

        Raises:
            ConfigurationError: an unknown name or an invalid value.
        """
        reject_unknown(data, cls, "topics")
        return cls(**dict(data))


@dataclass(frozen=True, eq=False)
class TopicModel:
    """Which topic each document of an index is in (topic 0 holds most fitted documents).

    Attributes:
        document_ids: the index's document ids, in row order.
        assignments: each document's topic, in row order.
        centroids: (topics, dimension) the mean unit vector of each topic's documents.
        seed: the seed of the clustering.
        silhouette: the silhouette (cosine) of the clustering, if there were 2+ topics.
        fitted_on: how many documents placed the centroids (the others were assigned).
    """

    document_ids: tuple[str, ...]
    assignments: Ids = field(repr=False)
    centroids: Vectors = field(repr=False)
    seed: int = 0
    silhouette: float | None = None
    fitted_on: int = 0

    @property
    def count(self) -> int:
        """How many topics."""
        return int(self.centroids.shape[0])

    def topic_of(self, document_id: str) -> int:
        """The topic of a document.

        Raises:
            UnknownResourceError: the model holds no document with this id.
        """
        row = self._rows.get(document_id)
        if row is None:
            raise UnknownResourceError(f"no resource with id {document_id!r}")
        return int(self.assignments[row])

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.document_ids)}

    def sizes(self) -> list[int]:
        """How many documents each topic holds, by topic id."""
        return [int(n) for n in np.bincount(self.assignments, minlength=self.count)]

    @classmethod
    def fit(
        cls,
        vectors: Vectors,
        document_ids: Sequence[str],
        config: TopicConfig,
        *,
        fit_on: Mask | None = None,
        progress: Progress | None = None,
    ) -> TopicModel:
        """Cluster documents into topics.

        Args:
            vectors: one unit vector per document (Recommender.document_vectors()).
            document_ids: the documents' ids, in the same order.
            config: the number of topics (None: by the rule of thumb) and the seed.
            fit_on: the documents that place the centroids (all if None); the
                others join their nearest topic. The pipeline passes the public
                documents, so that restricted ones never move a topic's boundary.
            progress: told ("topics", done, total) before and after clustering.

        Raises:
            ConfigurationError: vectors and ids differ in number, or no document.
        """
        if len(vectors) != len(document_ids) or len(vectors) == 0:
            raise ConfigurationError(
                f"topics need one vector per document, at least one: got {len(vectors)} "
                f"vectors for {len(document_ids)} documents"
            )
        data = np.asarray(vectors, dtype=np.float32)
        chosen = np.ones(len(data), dtype=bool) if fit_on is None else np.asarray(fit_on, bool)
        if not chosen.any():
            chosen = np.ones(len(data), dtype=bool)
        sample = data[chosen]
        count = topic_count(len(sample), config.count)
        if progress is not None:
            progress("topics", 0, 1)
        from sklearn.cluster import KMeans  # here: scikit-learn adds a second to start-up

        fitted = KMeans(n_clusters=count, n_init=RESTARTS, random_state=config.seed).fit(sample)
        score = _silhouette(sample, fitted.labels_, config.seed)
        labels = fitted.predict(data).astype(np.int64)
        if progress is not None:
            progress("topics", 1, 1)
        return cls._ordered(tuple(document_ids), labels, chosen, data, config.seed, score)

    @classmethod
    def _ordered(
        cls,
        ids: tuple[str, ...],
        labels: Ids,
        chosen: Mask,
        data: Vectors,
        seed: int,
        score: float,
    ) -> TopicModel:
        """Number topics by how many of the fitted documents they hold (largest first),
        so that documents left out of the fit do not even decide the numbering, and
        make the centroids the unit mean vectors of all their documents."""
        sizes = np.bincount(labels[chosen], minlength=int(labels.max()) + 1)
        order = np.lexsort((np.arange(len(sizes)), -sizes))
        renumber = np.empty(len(sizes), dtype=np.int64)
        renumber[order] = np.arange(len(order))
        assignments = renumber[labels]
        sums = np.zeros((len(sizes), data.shape[1]), dtype=np.float64)
        np.add.at(sums, assignments, data)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
        silhouette = None if math.isnan(score) else round(float(score), 4)
        return cls(
            ids, assignments, centroids.astype(np.float32), seed, silhouette, int(chosen.sum())
        )

    def check(self, document_ids: Sequence[str], where: str = "the index") -> None:
        """Refuse to describe an index whose documents are not the ones fitted.

        Raises:
            ArtifactFormatError: the ids differ (the index was rebuilt since).
        """
        if tuple(document_ids) != self.document_ids:
            raise ArtifactFormatError(
                f"the topic model was fitted on {len(self.document_ids):,} documents that are "
                f"not the {len(document_ids):,} of {where}; fit it again with "
                "`whoknows topics --index INDEX --out DIR`"
            )

    def save(self, directory: str | Path, extras: Mapping[str, str] | None = None) -> Path:
        """Write the topics directory, replacing any previous one all at once.

        Args:
            directory: the directory to (re)place.
            extras: more text files to put in it, by file name (e.g. a report).
        """
        target = Path(directory)
        with atomic_directory(target) as tmp:
            for name, content in (extras or {}).items():
                (tmp / name).write_text(content, encoding="utf-8")
            np.save(tmp / ASSIGNMENTS_FILE, self.assignments, allow_pickle=False)
            np.save(tmp / CENTROIDS_FILE, self.centroids, allow_pickle=False)
            (tmp / MODEL_FILE).write_text(json.dumps(self._manifest(), indent=2) + "\n")
        return target

    def _manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "topics": self.count,
            "dimension": int(self.centroids.shape[1]),
            "seed": self.seed,
            "silhouette": self.silhouette,
            "fitted_on": self.fitted_on,
            "sizes": self.sizes(),
            "document_ids": list(self.document_ids),
        }

    @classmethod
    def load(cls, directory: str | Path) -> TopicModel:
        """Read a topics directory written by :meth:`save`.

        Raises:
            ArtifactNotFoundError: no topics directory at the path.
            ArtifactFormatError: it is damaged or of another format version.
        """
        folder = Path(directory)
        path = folder / MODEL_FILE
        if not path.is_file():
            raise ArtifactNotFoundError(
                f"no topic model at {folder}: {MODEL_FILE} is missing; "
                "fit one with `whoknows topics --index INDEX --out DIR`"
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT:
                raise ArtifactFormatError(f"{path} is not a whoknows topic model")
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ArtifactFormatError(
                    f"{path} has topics format version {manifest.get('format_version')}, this "
                    f"whoknows reads version {FORMAT_VERSION}; fit the topics again"
                )
            ids = tuple(str(i) for i in manifest["document_ids"])
            assignments = np.load(folder / ASSIGNMENTS_FILE, allow_pickle=False)
            centroids = np.load(folder / CENTROIDS_FILE, allow_pickle=False)
            silhouette = manifest.get("silhouette")
            model = cls(
                ids,
                assignments.astype(np.int64),
                centroids.astype(np.float32),
                int(manifest["seed"]),
                None if silhouette is None else float(silhouette),
                int(manifest["fitted_on"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArtifactFormatError(f"the topic model at {folder} is damaged: {exc}") from exc
        _check_shapes(model, folder)
        return model


def _check_shapes(model: TopicModel, folder: Path) -> None:
    """Refuse arrays that do not fit together (a damaged or hand-edited directory)."""
    assignments, centroids = model.assignments, model.centroids
    problems = []
    if assignments.ndim != 1 or len(assignments) != len(model.document_ids):
        problems.append(f"{len(assignments)} assignments for {len(model.document_ids)} documents")
    if centroids.ndim != 2 or len(centroids) == 0:
        problems.append("no centroids")
    elif len(assignments) and not 0 <= assignments.min() <= assignments.max() < len(centroids):
        problems.append("assignments to topics that have no centroid")
    if problems:
        raise ArtifactFormatError(f"the topic model at {folder} is damaged: {'; '.join(problems)}")


def topic_count(documents: int, count: int | None) -> int:
    """How many topics ``documents`` documents make: ``count`` if given (at most one per
    document), else sqrt(documents / 2) between AUTO_BOUNDS."""
    if count is None:
        low, high = AUTO_BOUNDS
        count = min(max(round(math.sqrt(documents / 2)), low), high)
    return max(1, min(count, documents))


def _silhouette(vectors: Vectors, labels: Ids, seed: int) -> float:
    """The cosine silhouette of a clustering on a seeded sample; NaN for one cluster."""
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(vectors):
        return math.nan
    from sklearn.metrics import silhouette_score

    size = min(len(vectors), SILHOUETTE_SAMPLE)
    return float(
        silhouette_score(vectors, labels, metric="cosine", sample_size=size, random_state=seed)
    )
