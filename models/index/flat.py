"""Exact search: every query is compared with every vector."""

from __future__ import annotations

from typing import Any

import faiss

from models.index.base import VectorIndex


class FlatIndex(VectorIndex):
    """Exhaustive inner-product search; exact, and fast enough below ~100k vectors."""

    kind = "flat"

    def _new(self) -> Any:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    def _storage(self) -> Any:
        return faiss.downcast_index(self._index.index)
