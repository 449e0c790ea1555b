"""Named feature matrices: a ranker reads its columns by name, never by position.

A matrix is built from a mapping of name to column and laid out in the order a
module declares (``RESOURCE_FEATURES``, ``PEOPLE_FEATURES``); a column that is
missing, extra or of the wrong length is refused when the matrix is made. So
adding a feature, or reordering the declaration, cannot silently hand one
feature's weight to another: rankers pick their columns with :meth:`select`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.arrays import Ids, Mask, Matrix


@dataclass(frozen=True, slots=True)
class Features:
    """Feature values of some candidates, one named column per feature.

    Attributes:
        names: the feature names, in column order.
        values: (candidates, features) float64 values.
    """

    names: tuple[str, ...]
    values: Matrix

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"feature names repeat: {self.names}")
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(
                f"{self.values.shape} feature values for {len(self.names)} names {self.names}"
            )

    @classmethod
    def of(cls, declared: Sequence[str], columns: Mapping[str, npt.ArrayLike]) -> Features:
        """Columns given by name, laid out in the declared order.

        Raises:
            ValueError: a declared feature is missing, an undeclared one is given,
                or the columns differ in length (a programming error, not bad data).
        """
        missing = [name for name in declared if name not in columns]
        extra = [name for name in columns if name not in declared]
        if missing or extra:
            raise ValueError(f"features missing: {missing}; not declared: {extra}")
        arrays = [np.asarray(columns[name], dtype=np.float64).ravel() for name in declared]
        lengths = {len(a) for a in arrays}
        if len(lengths) > 1:
            raise ValueError(f"feature columns of different lengths: {sorted(lengths)}")
        rows = lengths.pop() if lengths else 0
        values = np.column_stack(arrays) if arrays else np.zeros((rows, 0))
        return cls(tuple(declared), values.reshape(rows, len(declared)))

    @classmethod
    def empty(cls, names: Sequence[str]) -> Features:
        """No candidates."""
        return cls(tuple(names), np.zeros((0, len(names))))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> Matrix:
        """One feature's values.

        Raises:
            KeyError: no feature of that name.
        """
        try:
            index = self.names.index(name)
        except ValueError:
            raise KeyError(f"no feature {name!r}; these are {self.names}") from None
        column: Matrix = self.values[:, index]
        return column

    def select(self, names: Sequence[str]) -> Features:
        """Only the named features, in the order given.

        Raises:
            KeyError: a name that is not one of these features.
        """
        unknown = [name for name in names if name not in self.names]
        if unknown:
            raise KeyError(f"no feature {unknown}; these are {self.names}")
        return Features(tuple(names), self.values[:, [self.names.index(n) for n in names]])

    def take(self, rows: Ids | Mask) -> Features:
        """These candidates (row numbers or a boolean mask), in that order."""
        return Features(self.names, self.values[rows])
