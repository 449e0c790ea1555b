"""Array and callback types shared across the models package."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

#: Rows of float32 vectors, one per text or item.
Vectors = npt.NDArray[np.float32]
#: int64 ids or row numbers.
Ids = npt.NDArray[np.int64]
#: A boolean mask over ids or rows.
Mask = npt.NDArray[np.bool_]
#: float64 values of candidates x features (or any 2-d table of scores).
Matrix = npt.NDArray[np.float64]
#: Called as (stage, done, total) while a long job runs, to draw progress.
Progress = Callable[[str, int, int], None]
