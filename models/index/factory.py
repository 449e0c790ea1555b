"""Picks and loads vector index backends by name."""

from __future__ import annotations

from pathlib import Path

from models.exceptions import ArtifactFormatError, ConfigurationError
from models.index.base import VectorIndex
from models.index.flat import FlatIndex
from models.index.hnsw import HNSWIndex
from models.index.ivf import IVFIndex

_BACKENDS: dict[str, type[VectorIndex]] = {
    FlatIndex.kind: FlatIndex,
    HNSWIndex.kind: HNSWIndex,
    IVFIndex.kind: IVFIndex,
}
INDEX_KINDS = ("auto", *_BACKENDS)
#: The approximate backends "auto" can choose past the exact-search limit.
APPROXIMATE_KINDS = (IVFIndex.kind, HNSWIndex.kind)

#: Below this many vectors exact search costs a few milliseconds, so "auto" stays exact
#: (params.yaml: recommender.exact_search_limit).
AUTO_FLAT_LIMIT = 50_000
#: What "auto" builds past that limit (params.yaml: recommender.approximate_index): on
#: 1,000,000 clustered vectors IVF reached recall@10 0.95 where HNSW did not (README).
AUTO_APPROXIMATE = IVFIndex.kind


def create_index(
    kind: str,
    dimension: int,
    expected_size: int = 0,
    exact_limit: int = AUTO_FLAT_LIMIT,
    approximate: str = AUTO_APPROXIMATE,
) -> VectorIndex:
    """A new empty index.

    Args:
        kind: ``"flat"``, ``"hnsw"``, ``"ivf"`` or ``"auto"`` (flat up to
            ``exact_limit`` vectors, then ``approximate``).
        dimension: vector length.
        expected_size: how many vectors will be added; used by ``"auto"``.
        exact_limit: the most vectors ``"auto"`` searches exactly.
        approximate: the kind ``"auto"`` builds past ``exact_limit``: ``"ivf"`` or
            ``"hnsw"``.
    """
    if approximate not in APPROXIMATE_KINDS:
        raise ConfigurationError(
            f"unknown approximate index type {approximate!r}; "
            f"use one of: {', '.join(APPROXIMATE_KINDS)}"
        )
    if kind == "auto":
        kind = FlatIndex.kind if expected_size <= exact_limit else approximate
    try:
        backend = _BACKENDS[kind]
    except KeyError:
        raise ConfigurationError(
            f"unknown index type {kind!r}; use one of: {', '.join(INDEX_KINDS)}"
        ) from None
    return backend(dimension)


def load_index(path: Path, kind: str, dimension: int) -> VectorIndex:
    """Read an index file written by :meth:`VectorIndex.save`."""
    backend = _BACKENDS.get(kind)
    if backend is None:
        raise ArtifactFormatError(f"{path}: unknown index type {kind!r} in the manifest")
    return backend.load(path, dimension)
