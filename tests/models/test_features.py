from __future__ import annotations

import numpy as np
import pytest

from models.features import Features


def test_columns_are_laid_out_in_the_declared_order_whatever_the_mapping_order() -> None:
    features = Features.of(("a", "b", "c"), {"c": [3.0, 30.0], "a": [1.0, 10.0], "b": [2, 20]})
    assert features.names == ("a", "b", "c")
    np.testing.assert_array_equal(features.values, [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    assert features.values.dtype == np.float64
    np.testing.assert_array_equal(features.column("b"), [2.0, 20.0])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"a": [1.0]}, r"missing: \['b'\]"),
        ({"a": [1.0], "b": [2.0], "z": [0.0]}, r"not declared: \['z'\]"),
        ({"a": [1.0], "b": [2.0, 3.0]}, "different lengths"),
    ],
)
def test_a_missing_extra_or_misshapen_column_is_refused(
    columns: dict[str, list[float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Features.of(("a", "b"), columns)


def test_select_and_take_keep_names_with_their_values() -> None:
    features = Features.of(("a", "b", "c"), {"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]})
    picked = features.select(("c", "a")).take(np.array([2, 0]))
    assert picked.names == ("c", "a")
    np.testing.assert_array_equal(picked.values, [[9.0, 3.0], [7.0, 1.0]])
    assert len(features.take(np.array([True, False, True]))) == 2
    with pytest.raises(KeyError, match="'d'"):
        features.select(("a", "d"))
    with pytest.raises(KeyError, match="'d'"):
        features.column("d")


def test_empty_features_have_their_names_and_no_rows() -> None:
    empty = Features.empty(("a", "b"))
    assert len(empty) == 0 and empty.values.shape == (0, 2)
    assert len(Features.of(("a",), {"a": []})) == 0
