"""Nearest-neighbour search over L2-normalised vectors, behind one small interface.

Scores are inner products of unit vectors, i.e. cosine similarities. Ids are
int64 and stable: removing vectors never renumbers the others.
"""

from models.index.base import SearchHits, VectorIndex, limit_search_threads
from models.index.factory import APPROXIMATE_KINDS, INDEX_KINDS, create_index, load_index

__all__ = [
    "APPROXIMATE_KINDS",
    "INDEX_KINDS",
    "SearchHits",
    "VectorIndex",
    "create_index",
    "load_index",
    "search_one_query_at_a_time",
]


def search_one_query_at_a_time() -> None:
    """Let FAISS search with one thread (for this whole process).

    A service searches one query per request, requests run side by side, and
    FAISS's OpenMP threads cost more than they save on one query: starting them
    took 5 ms of a 1,094-passage search on a busy 2-core machine. Builds keep
    every thread (they add and search many vectors at once).
    """
    limit_search_threads(1)
