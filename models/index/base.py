"""The interface every vector index backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import faiss
import numpy as np

from models.arrays import Ids, Mask, Vectors
from models.exceptions import ArtifactFormatError, ConfigurationError

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

    def __init__(self, dimension: int) -> None:
        if dimension <= 0:
            raise ConfigurationError(f"vector dimension must be positive, got {dimension}")
        self.dimension = dimension
        self._index: Any = self._new()
        self._lookup: tuple[Ids, Ids] | None = None

    @abstractmethod
    def _new(self) -> Any:
        """An empty FAISS index of this backend, wrapped so that it takes ids."""

    @abstractmethod
    def _storage(self) -> Any:
        """The flat FAISS index that holds the raw vectors, in id_map order."""

    def _stored_vectors(self) -> Vectors:
        """A read-only view of every stored vector, in storage order (that of ``ids()``)."""
        storage = self._storage()
        flat = faiss.rev_swig_ptr(storage.get_xb(), len(self) * self.dimension)
        view = np.asarray(flat, dtype=np.float32).reshape(len(self), self.dimension)
        view.flags.writeable = False
        return view

    def similarities(self, query: Vectors, ids: Ids) -> Vectors:
        """Exact cosine similarity of one query vector to the vectors of ``ids``.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if self._lookup is None:
            known = self.ids()
            order = np.argsort(known, kind="stable")
            self._lookup = (known[order], order)
        sorted_ids, order = self._lookup
        at = np.searchsorted(sorted_ids, ids)
        if len(ids) and (at.max() >= len(sorted_ids) or (sorted_ids[at] != ids).any()):
            raise ConfigurationError("similarities() was asked for ids that are not in the index")
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        positions = order[at]
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

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def build(self, vectors: Vectors, ids: Ids) -> None:
        """Replace the whole content with these vectors."""
        self._index = self._new()
        self._lookup = None
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
        self._lookup = None

    def remove(self, ids: Ids) -> int:
        """Remove the vectors with these ids (unknown ids are ignored); returns how many went."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(self) == 0:
            return 0
        self._lookup = None
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
