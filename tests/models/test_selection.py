"""models.selection: sums over some rows of a sparse matrix, against scipy's own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from models.selection import select


def random_matrix(seed: int, shape: tuple[int, int] = (40, 25)) -> sparse.csr_array:
    rng = np.random.default_rng(seed)
    dense = rng.random(shape) * (rng.random(shape) < 0.2)
    return sparse.csr_array(dense.astype(np.float32))


@pytest.mark.parametrize("seed", range(5))
def test_sums_counts_and_first_rows_match_scipy(seed: int) -> None:
    matrix = random_matrix(seed)
    rng = np.random.default_rng(seed + 100)
    rows = rng.choice(40, size=12, replace=False)
    weights = rng.random(12)
    chosen = select(matrix, rows)
    expected = np.asarray(matrix[rows].T @ weights).ravel()
    assert np.allclose(chosen.sums(weights), expected, rtol=0, atol=1e-12)
    assert np.allclose(chosen.sums(), np.asarray(matrix[rows].sum(axis=0)).ravel(), atol=1e-6)
    present = (matrix[rows] > 0).toarray()
    assert np.array_equal(chosen.counts(chosen.values > 0), present.sum(axis=0))
    first = [np.flatnonzero(present[:, j])[:1] for j in range(25)]
    assert np.array_equal(chosen.first(), [float(f[0]) if len(f) else np.inf for f in first]), (
        "the first selected row holding each column"
    )
    assert np.allclose(chosen.matrix(weights).toarray(), matrix[rows].toarray() * weights[:, None])


def test_columns_of_a_csc_matrix() -> None:
    matrix = sparse.csc_array(random_matrix(7))
    columns = np.array([3, 0, 24, 3])  # repeated, out of order
    weights = np.array([0.5, 2.0, 1.0, 0.25])
    assert np.allclose(
        select(matrix, columns).sums(weights), np.asarray(matrix[:, columns] @ weights).ravel()
    )


def test_nothing_selected_sums_to_zeros() -> None:
    matrix = random_matrix(1)
    chosen = select(matrix, np.zeros(0, dtype=np.int64))
    assert chosen.rows == 0
    assert np.array_equal(chosen.sums(np.zeros(0)), np.zeros(25))
    assert np.array_equal(chosen.counts(), np.zeros(25))
    assert np.isinf(chosen.first()).all()
    assert chosen.matrix(np.zeros(0)).shape == (0, 25)


def test_empty_rows_take_no_entries() -> None:
    matrix = sparse.csr_array(np.array([[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]]))
    chosen = select(matrix, np.array([1, 2, 1, 0]))
    assert chosen.positions.tolist() == [1, 3]
    assert chosen.columns.tolist() == [0, 1]
    assert chosen.first().tolist() == [1.0, 3.0]
