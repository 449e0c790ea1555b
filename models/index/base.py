"""The interface every vector index backend implements, and what approximate ones share:
an exact scan behind selective filters and the build-time tuning of their one speed knob.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import faiss
import numpy as np

from models.arrays import Ids, Mask, Vectors
from models.exceptions import ArtifactFormatError, ConfigurationError

#: Below this share of allowed vectors, an approximate index scans them exactly: a graph
#: walk or a few probed cells that may only stop at a few allowed vectors miss many.
EXACT_FILTER_SHARE = 0.2
#: Queries and neighbours with which :meth:`ApproximateIndex.tune` measures recall.
TUNE_QUERIES = 500
TUNE_K = 10

#: FAISS (OpenMP) threads per search, set in every thread that searches; None: OpenMP's
#: default. OpenMP keeps the number per thread, so setting it once at start-up does
#: not reach the threads that answer requests.
_search_threads: int | None = None


def limit_search_threads(threads: int | None) -> None:
    """Search with at most ``threads`` FAISS threads in every thread of this process."""
    global _search_threads
    _search_threads = threads


class SearchHits(NamedTuple):
    """Nearest neighbours of a batch of queries, best first.

    Attributes:
        scores: (queries, k) cosine similarities; -inf where fewer than k were found.
        ids: (queries, k) ids of the vectors found; -1 where fewer than k were found.
    """

    scores: Vectors
    ids: Ids


class VectorIndex(ABC):
    """A FAISS index with stable int64 ids, searched by inner product.

    Subclasses provide the FAISS structure; this class keeps the checks, the id
    filter and saving in one place.
    """

    kind: ClassVar[str]
    #: Whether search may miss neighbours (then :meth:`tune` sets how hard it looks).
    approximate: ClassVar[bool] = False
    #: Below this share of allowed vectors, a filtered search scans them exactly (0: never).
    exact_filter_share: ClassVar[float] = 0.0

    def __init__(self, dimension: int) -> None:
        if dimension <= 0:
            raise ConfigurationError(f"vector dimension must be positive, got {dimension}")
        self.dimension = dimension
        self._index: Any = self._new()
        self._lookup: tuple[Ids, Ids] | None = None

    def _changed(self) -> None:
        """Forget what was derived from the content (it was added to or removed from)."""
        self._lookup = None

    @abstractmethod
    def _new(self) -> Any:
        """An empty FAISS index of this backend, wrapped so that it takes ids."""

    @abstractmethod
    def _storage(self) -> Any:
        """The FAISS structure that holds the raw vectors: a flat index in id_map order,
        or (IVF, which overrides _stored_vectors) the inverted lists."""

    def _stored_vectors(self) -> Vectors:
        """A read-only view of every stored vector, in storage order (that of ``ids()``)."""
        storage = self._storage()
        flat = faiss.rev_swig_ptr(storage.get_xb(), len(self) * self.dimension)
        view = np.asarray(flat, dtype=np.float32).reshape(len(self), self.dimension)
        view.flags.writeable = False
        return view

    def _positions(self, ids: Ids) -> Ids:
        """Where the vectors of ``ids`` are in storage order.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        if self._lookup is None:
            known = self.ids()
            order = np.argsort(known, kind="stable")
            self._lookup = (known[order], order)
        sorted_ids, order = self._lookup
        at = np.searchsorted(sorted_ids, ids)
        if len(ids) and (at.max() >= len(sorted_ids) or (sorted_ids[at] != ids).any()):
            raise ConfigurationError("similarities() was asked for ids that are not in the index")
        positions: Ids = order[at]
        return positions

    def _vectors_of(self, ids: Ids) -> Vectors:
        """A copy of the stored vectors of ``ids``, in that order.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        vectors: Vectors = self._stored_vectors()[self._positions(ids)]
        return vectors

    def similarities(self, query: Vectors, ids: Ids) -> Vectors:
        """Exact cosine similarity of one query vector to the vectors of ``ids``.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        ids = np.asarray(ids, dtype=np.int64)
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        positions = self._positions(ids)
        vectors = self._stored_vectors()
        if len(positions) > 1 and positions[-1] - positions[0] == len(positions) - 1:
            if (np.diff(positions) == 1).all():  # a run of stored vectors: no copy
                run: Vectors = vectors[positions[0] : positions[-1] + 1] @ vector
                return run
        scores: Vectors = vectors[positions] @ vector
        return scores

    def _search_parameters(self, selector: Any) -> Any:
        # faiss's stubs describe the raw SWIG constructors, not its keyword wrappers.
        return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]

    def tune(self, recall_target: float, seed: int = 0) -> dict[str, Any]:
        """Nothing to tune in exact search: an empty record for the manifest."""
        return {}

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def build(self, vectors: Vectors, ids: Ids) -> None:
        """Replace the whole content with these vectors."""
        self._index = self._new()
        self._changed()
        self.add(vectors, ids)

    def add(self, vectors: Vectors, ids: Ids) -> None:
        """Add vectors under ids that are not in the index yet."""
        vectors, ids = self._check(vectors, ids)
        if len(ids) == 0:
            return
        if len(np.unique(ids)) != len(ids):
            raise ConfigurationError("the ids given to add() must be unique")
        present = np.isin(ids, self.ids())
        if present.any():
            raise ConfigurationError(f"ids already in the index: {ids[present][:5].tolist()}")
        self._index.add_with_ids(vectors, ids)
        self._changed()

    def remove(self, ids: Ids) -> int:
        """Remove the vectors with these ids (unknown ids are ignored); returns how many went."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(self) == 0:
            return 0
        self._changed()
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def ids(self) -> Ids:
        """Every id in the index."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def vectors(self) -> Vectors:
        """Every stored vector (read-only), in the order of :meth:`ids`."""
        return self._stored_vectors()

    def search(self, queries: Vectors, k: int, allowed: Mask | None = None) -> SearchHits:
        """The k nearest vectors to each query.

        Args:
            queries: (n, dimension) unit vectors.
            k: how many neighbours per query.
            allowed: a boolean mask indexed by id; only ids where it is True are
                searched, so filtering happens before the top-k cut, not after.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dimension:
            raise ConfigurationError(
                f"query vectors have dimension {queries.shape[1]}, index has {self.dimension}"
            )
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return SearchHits(
                np.full((len(queries), 0), -np.inf, dtype=np.float32),
                np.full((len(queries), 0), -1, dtype=np.int64),
            )
        if allowed is not None and self.exact_filter_share > 0:
            scanned = self._scan_if_selective(queries, k, allowed)
            if scanned is not None:
                return scanned
        params = None
        if allowed is not None:
            bits = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
            # One bit per id; ids past the end of the mask are excluded. `bits` must
            # outlive the search: the selector only points at it.
            selector = faiss.IDSelectorBitmap(bits)  # type: ignore[call-arg, arg-type]
            params = self._search_parameters(selector)
        if _search_threads is not None:  # OpenMP keeps the number per thread
            faiss.omp_set_num_threads(_search_threads)
        scores, ids = self._index.search(queries, k, params=params)
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
        return SearchHits(scores, ids.astype(np.int64))

    def _scan_if_selective(self, queries: Vectors, k: int, allowed: Mask) -> SearchHits | None:
        """Exact search over the allowed vectors when they are fewer than
        ``exact_filter_share`` of the index (None otherwise): filtering still happens
        before the top-k cut, and no allowed neighbour is missed."""
        ids = self.ids()
        chosen = ids[_take(allowed, ids)]
        if len(chosen) >= self.exact_filter_share * len(self):
            return None
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        found = np.full((len(queries), k), -1, dtype=np.int64)
        if len(chosen):
            similarity = queries @ self._vectors_of(chosen).T
            take = min(k, len(chosen))
            best = np.argsort(-similarity, axis=1, kind="stable")[:, :take]
            scores[:, :take] = np.take_along_axis(similarity, best, axis=1)
            found[:, :take] = chosen[best]
        return SearchHits(scores, found)

    def save(self, path: Path) -> None:
        """Write the index to one file."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        """Read an index written by :meth:`save`."""
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ArtifactFormatError(f"cannot read the vector index {path}: {exc}") from exc
        if raw.d != dimension:
            raise ArtifactFormatError(
                f"{path} holds vectors of dimension {raw.d}, the manifest says {dimension}"
            )
        index = cls(dimension)
        index._index = raw
        return index

    def _check(self, vectors: Vectors, ids: Ids) -> tuple[Vectors, Ids]:
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.shape[1] != self.dimension:
            raise ConfigurationError(
                f"vectors have dimension {vectors.shape[1]}, the index expects {self.dimension}"
            )
        if len(vectors) != len(ids):
            raise ConfigurationError(f"{len(vectors)} vectors but {len(ids)} ids")
        return vectors, ids


class ApproximateIndex(VectorIndex):
    """An index that trades recall for speed through one search parameter, set at build
    time by :meth:`tune` and saved with the index.

    Subclasses name the parameter (``knob``, the key the manifest records it under),
    the values worth trying (``choices``, fastest first) and read and write it
    through ``depth``.
    """

    approximate = True
    exact_filter_share = EXACT_FILTER_SHARE
    knob: ClassVar[str]

    @property
    @abstractmethod
    def depth(self) -> int:
        """How hard a search looks: larger finds more and takes longer."""

    @depth.setter
    @abstractmethod
    def depth(self, value: int) -> None: ...

    @abstractmethod
    def choices(self) -> tuple[int, ...]:
        """The values of ``depth`` :meth:`tune` tries, fastest first."""

    def tune(self, recall_target: float, seed: int = 0) -> dict[str, Any]:
        """Set the fastest ``depth`` whose recall@10 against exact search reaches
        ``recall_target``, measured on queries made from the index's own vectors.

        The queries are made from stored vectors (probe_queries): a stored vector
        alone would find itself first and flatter the index. The slowest choice is
        kept if none reaches the target; the result says so.

        Returns:
            the chosen value under the name ``knob`` (``ef_search``, ``nprobe``),
            the ``recall_at_10`` measured with it, ``recall_target``, ``queries``
            used and whether the target was ``reached``.
        """
        count = len(self)
        if count <= TUNE_K:  # any depth finds every vector
            return self._tuned(1.0, recall_target, 0)
        size = min(TUNE_QUERIES, count)
        vectors = self._stored_vectors()
        queries = probe_queries(vectors, size, seed)
        _, truth = faiss.knn(queries, vectors, TUNE_K, metric=faiss.METRIC_INNER_PRODUCT)
        del vectors
        truth = self.ids()[truth]
        recall = 0.0
        for depth in self.choices():
            self.depth = depth
            _, found = self._index.search(queries, TUNE_K)
            recall = float(
                np.mean([len(set(f) & set(t)) / TUNE_K for f, t in zip(found, truth, strict=True)])
            )
            if recall >= recall_target:
                break
        return self._tuned(recall, recall_target, size)

    def _tuned(self, recall: float, recall_target: float, queries: int) -> dict[str, Any]:
        return {
            self.knob: self.depth,
            "recall_at_10": round(recall, 4),
            "recall_target": recall_target,
            "queries": queries,
            "reached": recall >= recall_target,
        }


#: How far a probe query is from the stored vector it is made from (cosine).
PROBE_COSINE = 0.3


def probe_queries(vectors: Vectors, size: int, seed: int) -> Vectors:
    """Queries as hard to answer as real ones, made from stored vectors: each a stored
    vector moved in a random direction to cosine PROBE_COSINE with it.

    Calibrated on the Stack Exchange dev set (8,474 real passages, IVF with 211
    cells): for every search depth where recall@10 is 0.9 or more, these probes'
    recall is at or below that of the 181 real dev queries, short (titles) or long
    (whole questions): 0.941 against 0.947 and 0.965 at nprobe 16, 0.959 against
    0.975 and 0.987 at nprobe 24. Probes moved only to cosine 0.7, or midpoints of
    two stored vectors, promised 0.95 at nprobe 8, where real queries found 0.88-0.90.
    """
    rng = np.random.default_rng(seed)
    sources = vectors[rng.integers(0, len(vectors), size=size)]
    noise = rng.normal(size=sources.shape).astype(np.float32)
    noise -= (noise * sources).sum(axis=1, keepdims=True) * sources  # orthogonal to it
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    queries = sources + noise * np.float32(np.sqrt(1 / PROBE_COSINE**2 - 1))
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(queries, dtype=np.float32)


def _take(mask: Mask, ids: Ids) -> Mask:
    """mask[ids], with ids past the end of the mask counted as not allowed."""
    inside = ids < len(mask)
    out = np.zeros(len(ids), dtype=bool)
    out[inside] = mask[ids[inside]]
    return out
