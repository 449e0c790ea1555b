"""Approximate search on a navigable small-world graph (HNSW), for large corpora."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from models.arrays import Ids
from models.index.base import ApproximateIndex

M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 128
#: Search depths tried by :meth:`HNSWIndex.tune`, shallowest (fastest) first.
EF_CHOICES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class HNSWIndex(ApproximateIndex):
    """HNSW graph over inner product: sub-millisecond queries at 100k+ vectors.

    FAISS cannot delete from an HNSW graph, so :meth:`remove` rebuilds the graph
    from the vectors that stay; removals should come in batches. A selective filter
    is answered by an exact scan of the allowed vectors (see VectorIndex).
    """

    kind = "hnsw"
    knob = "ef_search"

    def _new(self) -> Any:
        graph = faiss.IndexHNSWFlat(self.dimension, M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        graph.hnsw.efSearch = EF_SEARCH
        return faiss.IndexIDMap2(graph)

    @property
    def ef_search(self) -> int:
        """How many candidates a search keeps while walking the graph (saved with it)."""
        graph: Any = faiss.downcast_index(self._index.index)
        return int(graph.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        graph: Any = faiss.downcast_index(self._index.index)
        graph.hnsw.efSearch = int(value)

    @property
    def depth(self) -> int:
        """The graph's search depth, ``ef_search``."""
        return self.ef_search

    @depth.setter
    def depth(self, value: int) -> None:
        self.ef_search = value

    def choices(self) -> tuple[int, ...]:
        """The search depths :meth:`tune` tries."""
        return EF_CHOICES

    def _search_parameters(self, selector: Any) -> Any:
        # Not in faiss's stubs, but exported by its Python package.
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)  # type: ignore[attr-defined]

    def _storage(self) -> Any:
        graph: Any = faiss.downcast_index(self._index.index)
        return faiss.downcast_index(graph.storage)

    def remove(self, ids: Ids) -> int:
        """Remove vectors by rebuilding the graph without them."""
        current = self.ids()
        keep = ~np.isin(current, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if removed:
            kept = self._stored_vectors()[keep].copy()
            depth = self.ef_search
            self.build(kept, current[keep])
            self.ef_search = depth  # a rebuild keeps the tuned depth
        return removed
