"""Frame helpers shared by ingestion, cleaning, the analysis and the models."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

SAMPLE_SEED = 42

# Rows as one array per column, all in the same row order: a frame's columns (`column_arrays`)
# or a step's output, read the same way (`columns[name]`).
Columns = Mapping[str, np.ndarray]


def column_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each column of `frame` as its array (no copy where pandas keeps one)."""
    return {name: frame[name].to_numpy() for name in frame.columns}


def copied_columns(frame: pd.DataFrame, names) -> dict[str, np.ndarray]:
    """Each of `names` as an array copied from `frame` (None throughout for one it lacks).

    The columns of one dtype are copied as one block: a fresh frame's column costs tens of
    microseconds to take alone, which was most of the checking of a one-house request.
    """
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
    by_dtype: dict[object, list[str]] = {}
    for name in names:
        if name in dtypes:
            by_dtype.setdefault(dtypes[name], []).append(name)
    arrays: dict[str, np.ndarray] = {}
    for same in by_dtype.values():
        block = frame[same].to_numpy()
        arrays.update((name, block[:, j]) for j, name in enumerate(same))
    absent = np.full(len(frame), None, dtype=object)
    return {name: arrays.get(name, absent) for name in names}


def with_columns(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """A new frame: `frame` with `columns` (arrays in its row order) replacing or added.

    Built in one go rather than column by column: each single assignment costs a fixed
    overhead that dominates when the valuation model cleans one house per request.
    """
    names = [*frame.columns, *(name for name in columns if name not in frame.columns)]
    data = {name: columns[name] if name in columns else frame[name] for name in names}
    return pd.DataFrame(data, index=frame.index)


def fixed_sample(frame: pd.DataFrame, max_rows: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """All the rows, or a fixed random sample of `max_rows` of them above that cap.

    The one way the pipeline keeps a step's cost flat as the data grows (the fits, the
    calibration, the importance, the associations, the charts): the same rows for the same
    input, so the figures of two runs on the same data agree.
    """
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)
