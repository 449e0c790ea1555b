"""Approximate search on a navigable small-world graph (HNSW), for large corpora."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from models.arrays import Ids, Mask, Vectors
from models.index.base import SearchHits, VectorIndex

#: Below this share of allowed vectors, a filtered search scans them exactly.
EXACT_FILTER_SHARE = 0.2
M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 128


class HNSWIndex(VectorIndex):
    """HNSW graph over inner product: sub-millisecond queries at 100k+ vectors.

    FAISS cannot delete from an HNSW graph, so :meth:`remove` rebuilds the graph
    from the vectors that stay; removals should come in batches.
    """

    kind = "hnsw"

    def _new(self) -> Any:
        graph = faiss.IndexHNSWFlat(self.dimension, M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        graph.hnsw.efSearch = EF_SEARCH
        return faiss.IndexIDMap2(graph)

    def _search_parameters(self, selector: Any) -> Any:
        # Not in faiss's stubs, but exported by its Python package.
        return faiss.SearchParametersHNSW(sel=selector, efSearch=EF_SEARCH)  # type: ignore[attr-defined]

    def search(self, queries: Vectors, k: int, allowed: Mask | None = None) -> SearchHits:
        """Graph search; exact search over the allowed vectors when a filter is selective.

        A graph walk that may only stop at a few allowed nodes misses many of
        them, so below EXACT_FILTER_SHARE of the collection the allowed vectors
        are scanned exhaustively instead: filtering still happens before the cut.
        """
        if allowed is None or len(self) == 0:
            return super().search(queries, k, allowed)
        positions = np.flatnonzero(_take(allowed, self.ids()))
        if len(positions) >= EXACT_FILTER_SHARE * len(self):
            return super().search(queries, k, allowed)
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self)))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        found = np.full((len(queries), k), -1, dtype=np.int64)
        if len(positions):
            vectors = self._stored_vectors()[positions]
            similarity = queries @ vectors.T
            take = min(k, len(positions))
            best = np.argsort(-similarity, axis=1, kind="stable")[:, :take]
            scores[:, :take] = np.take_along_axis(similarity, best, axis=1)
            found[:, :take] = self.ids()[positions][best]
        return SearchHits(scores, found)

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
            self.build(kept, current[keep])
        return removed


def _take(mask: Mask, ids: Ids) -> Mask:
    """mask[ids], with ids past the end of the mask counted as not allowed."""
    inside = ids < len(mask)
    out = np.zeros(len(ids), dtype=bool)
    out[inside] = mask[ids[inside]]
    return out
