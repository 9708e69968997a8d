"""Frame helpers shared by ingestion, cleaning, the analysis and the models."""

import pandas as pd

SAMPLE_SEED = 42


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
