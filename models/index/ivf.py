"""Approximate search in an inverted file (IVF): vectors grouped into cells around
k-means centroids, and a query compares itself with the vectors of its nearest cells.

Why IVF-Flat: on 1,000,000 clustered synthetic 384-d vectors (2 cores; the scale
benchmark, tests/benchmarks/test_scale.py, and the README's scale table), recall@10
on 300 queries the tuning never saw, single-query p50, memory of the index:

- IVF-Flat, 4,000 cells: nprobe 4, recall 0.995, 0.19 ms, 1.49 GB; built in 48 s.
- IVF-SQ8: nprobe 4, recall 0.977, 0.15 ms, 0.38 GB; 68 s.
- IVF-SQ8 re-ranked exactly (IndexRefineFlat, 2k candidates): recall 0.991,
  0.19 ms (p99 4.4 ms), 1.85 GB: the raw vectors as well as the codes.
- HNSW32: never reached 0.95 (0.875 at efSearch 512, 1.5 ms), 1.7 GB; 212 s. The
  near neighbours of a query among noisy vectors around one centre are many and
  close together; a graph walk stops before it has seen them all, a cell holds them.

SQ8 alone is the smallest that reaches the target, but the index is also where
the vectors are kept: similarities() rescores with them, and an update
(pipelines.build.update) reads every unchanged vector back from it to reproduce a
full build. SQ8 gives them back approximately; IVF-Flat keeps them exact, and has
native removal. Holding SQ8 codes in memory and the raw vectors on disk would get
both; it is not done yet.

The number of cells grows with the square root of the collection (CELLS_PER_ROOT),
bounded so that every centroid is trained on enough vectors; the centroids are
trained on a bounded, seeded random sample, so a build is repeatable. How many
cells a query visits (``nprobe``) is set by :meth:`IVFIndex.tune` and saved in the
index file.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from models.arrays import Ids, Vectors
from models.exceptions import ConfigurationError
from models.index.base import ApproximateIndex

#: Cells: about CELLS_PER_ROOT * sqrt(vectors) ...
CELLS_PER_ROOT = 4
#: ... but at least this many training vectors per cell, and at most MAX_CELLS cells.
TRAIN_PER_CELL = 40
MAX_CELLS = 65_536
#: k-means iterations of the training; more moved recall by less than the tuning's noise.
TRAIN_ITERATIONS = 10
TRAIN_SEED = 0
NPROBE = 16
#: Cells a search visits, tried by :meth:`IVFIndex.tune` fewest (fastest) first; the
#: index's own cell count is always tried last (every cell: exact search).
NPROBE_CHOICES = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def cells_for(count: int) -> int:
    """How many cells an index of ``count`` vectors gets."""
    wanted = round(CELLS_PER_ROOT * count**0.5)
    return int(max(1, min(wanted, count // TRAIN_PER_CELL, MAX_CELLS)))


class IVFIndex(ApproximateIndex):
    """Inverted-file index of raw vectors (IVF-Flat) over inner product.

    The cells are trained on the first vectors added to an empty index (a build's
    every vector); later additions go into the nearest existing cell, so an index
    that has grown far beyond its first build should be rebuilt. Removal is native
    (no rebuild). A selective filter is answered by an exact scan of the allowed
    vectors (see VectorIndex).
    """

    kind = "ivf"
    knob = "nprobe"

    def __init__(self, dimension: int) -> None:
        self._ids: Ids | None = None
        super().__init__(dimension)

    def _new(self) -> Any:
        return self._cells(1)

    def _cells(self, nlist: int) -> Any:
        quantizer = faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.seed = TRAIN_SEED
        index.nprobe = min(NPROBE, nlist)
        return index

    def _train(self, vectors: Vectors) -> None:
        """Replace the empty, untrained index with one whose cells fit ``vectors``."""
        index = self._cells(cells_for(len(vectors)))
        sample = min(len(vectors), TRAIN_PER_CELL * index.nlist)
        rows = np.random.default_rng(TRAIN_SEED).choice(len(vectors), sample, replace=False)
        index.train(vectors[np.sort(rows)])
        # by-id lookups (similarities) that survive removals
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        self._index = index
        self._changed()

    @property
    def nlist(self) -> int:
        """How many cells the vectors are grouped into."""
        return int(self._index.nlist)

    @property
    def nprobe(self) -> int:
        """How many of the nearest cells a search visits (saved with the index)."""
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._index.nprobe = int(value)

    @property
    def depth(self) -> int:
        """The cells a search visits, ``nprobe``."""
        return self.nprobe

    @depth.setter
    def depth(self, value: int) -> None:
        self.nprobe = value

    def choices(self) -> tuple[int, ...]:
        """The values of ``nprobe`` :meth:`tune` tries: those below the cell count, then it."""
        return (*(n for n in NPROBE_CHOICES if n < self.nlist), self.nlist)

    def _search_parameters(self, selector: Any) -> Any:
        # faiss's stubs describe the raw SWIG constructors, not its keyword wrappers.
        return faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)  # type: ignore[call-arg]

    def _changed(self) -> None:
        super()._changed()
        self._ids = None

    def add(self, vectors: Vectors, ids: Ids) -> None:
        """Add vectors under new ids; the first ones added to an empty index train its cells."""
        vectors, ids = self._check(vectors, ids)
        if len(ids) and not self._index.is_trained:
            self._train(vectors)
        super().add(vectors, ids)

    def remove(self, ids: Ids) -> int:
        """Remove vectors from their cells (unknown ids are ignored); returns how many went."""
        ids = np.asarray(ids, dtype=np.int64)
        known = np.unique(ids[np.isin(ids, self.ids())])
        if len(known) == 0:
            return 0
        self._changed()
        # A hashtable direct map removes by an explicit list of ids only.
        return int(self._index.remove_ids(faiss.IDSelectorArray(known)))

    def _lists(self) -> list[tuple[int, int]]:
        """(cell, vectors in it) of every non-empty cell, in storage order."""
        lists = self._index.invlists
        sizes = ((cell, int(lists.list_size(cell))) for cell in range(self.nlist))
        return [(cell, size) for cell, size in sizes if size]

    def ids(self) -> Ids:
        """Every id in the index, cell by cell (read-only)."""
        if self._ids is None:
            lists = self._index.invlists
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(cell), size).copy() for cell, size in self._lists()
            ]
            ids = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
            ids.flags.writeable = False
            self._ids = ids
        return self._ids

    def _storage(self) -> Any:
        """The inverted lists, which hold the raw vectors cell by cell."""
        return self._index.invlists

    def _stored_vectors(self) -> Vectors:
        """A copy of every stored vector, cell by cell (the order of ``ids()``)."""
        lists = self._storage()
        out = np.empty((len(self), self.dimension), dtype=np.float32)
        row = 0
        width = self.dimension * 4  # IVF-Flat codes are the float32 vectors
        for cell, size in self._lists():
            codes = faiss.rev_swig_ptr(lists.get_codes(cell), size * width)
            out[row : row + size] = np.frombuffer(codes, dtype=np.float32).reshape(size, -1)
            row += size
        out.flags.writeable = False
        return out

    def _vectors_of(self, ids: Ids) -> Vectors:
        """The stored vectors of ``ids``, looked up through the index's id table.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._positions(ids)  # refuses unknown ids
        if len(ids) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors: Vectors = self._index.reconstruct_batch(ids)
        return vectors

    def similarities(self, query: Vectors, ids: Ids) -> Vectors:
        """Exact cosine similarity of one query vector to the vectors of ``ids``.

        Raises:
            ConfigurationError: an id that is not in the index.
        """
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            raise ConfigurationError(
                f"the query vector has dimension {vector.shape[0]}, index has {self.dimension}"
            )
        scores: Vectors = self._vectors_of(ids) @ vector
        return scores
