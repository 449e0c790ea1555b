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
#: Search depths tried by :meth:`HNSWIndex.tune`, shallowest (fastest) first.
EF_CHOICES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TUNE_QUERIES = 500
TUNE_K = 10


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

    @property
    def ef_search(self) -> int:
        """How many candidates a search keeps while walking the graph (saved with it)."""
        graph: Any = faiss.downcast_index(self._index.index)
        return int(graph.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        graph: Any = faiss.downcast_index(self._index.index)
        graph.hnsw.efSearch = int(value)

    def _search_parameters(self, selector: Any) -> Any:
        # Not in faiss's stubs, but exported by its Python package.
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)  # type: ignore[attr-defined]

    def tune(self, recall_target: float, seed: int = 0) -> dict[str, Any]:
        """Set the shallowest search depth whose recall@10 against exact search reaches
        ``recall_target``, measured on queries made from the index's own vectors.

        The queries are made from stored vectors (probe_queries): a stored vector
        alone would find itself first and flatter the graph. The deepest choice is
        kept if none reaches the target; the result says so.

        Returns:
            ``ef_search``, the ``recall_at_10`` measured with it, ``recall_target``,
            ``queries`` used and whether the target was ``reached``.
        """
        count = len(self)
        if count <= TUNE_K:  # any search depth finds every vector
            return {
                "ef_search": self.ef_search,
                "recall_at_10": 1.0,
                "recall_target": recall_target,
                "queries": 0,
                "reached": True,
            }
        size = min(TUNE_QUERIES, count)
        vectors = self._stored_vectors()
        queries = probe_queries(vectors, size, seed)
        exact = faiss.IndexFlatIP(self.dimension)
        exact.add(vectors)  # a copy, for the time of the tuning only
        _, truth = exact.search(queries, TUNE_K)
        del exact
        ids = self.ids()
        truth = ids[truth]
        recall = 0.0
        for ef in EF_CHOICES:
            self.ef_search = ef
            _, found = self._index.search(queries, TUNE_K)
            recall = float(
                np.mean([len(set(f) & set(t)) / TUNE_K for f, t in zip(found, truth, strict=True)])
            )
            if recall >= recall_target:
                break
        return {
            "ef_search": self.ef_search,
            "recall_at_10": round(recall, 4),
            "recall_target": recall_target,
            "queries": size,
            "reached": recall >= recall_target,
        }

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


def probe_queries(vectors: Vectors, size: int, seed: int) -> Vectors:
    """Queries like real ones, made from stored vectors: half are midpoints of two random
    vectors, half a vector moved in a random direction to cosine 0.7 with it (isotropic
    noise, which makes them harder to answer than real queries: a cautious estimate)."""
    rng = np.random.default_rng(seed)
    half = size // 2
    pairs = rng.integers(0, len(vectors), size=(half, 2))
    midpoints = vectors[pairs[:, 0]] + vectors[pairs[:, 1]]
    sources = vectors[rng.integers(0, len(vectors), size=size - half)]
    noise = rng.normal(size=sources.shape).astype(np.float32)
    noise -= (noise * sources).sum(axis=1, keepdims=True) * sources  # orthogonal to it
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    moved = sources + noise * np.float32(np.sqrt(1 / 0.7**2 - 1))  # cosine 0.7 to the source
    queries = np.vstack([midpoints, moved]).astype(np.float32)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(queries)


def _take(mask: Mask, ids: Ids) -> Mask:
    """mask[ids], with ids past the end of the mask counted as not allowed."""
    inside = ids < len(mask)
    out = np.zeros(len(ids), dtype=bool)
    out[inside] = mask[ids[inside]]
    return out
