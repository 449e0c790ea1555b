"""Nearest-neighbour search over L2-normalised vectors, behind one small interface.

Scores are inner products of unit vectors, i.e. cosine similarities. Ids are
int64 and stable: removing vectors never renumbers the others.
"""

from models.index.base import SearchHits, VectorIndex
from models.index.factory import INDEX_KINDS, create_index, load_index

__all__ = ["INDEX_KINDS", "SearchHits", "VectorIndex", "create_index", "load_index"]
