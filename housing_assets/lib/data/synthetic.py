"""Larger Ames-shaped data for scale tests: real rows resampled, with small numeric noise.

Rows are drawn with replacement from the real sales. Continuous measures (areas, frontage,
the price) get multiplicative noise of a few percent, rounded back to whole numbers, so the
copies are not exact duplicates but keep the real distributions and relations. Counts,
years, codes and ratings are kept as drawn (noise would make impossible values such as 2.3
bathrooms). Every column and dtype is kept; Order runs 1..n and PIDs are fresh and unique.
"""

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import AREA_COLUMNS, TARGET

NOISY_COLUMNS = (*AREA_COLUMNS, "Lot Frontage", TARGET)
NOISE_SHARE = 0.03
FIRST_SYNTHETIC_PID = 2_000_000_000  # above every real PID (they are at most 1,007,100,110)


def resample_housing(raw: pd.DataFrame, scale: int, seed: int = 0) -> pd.DataFrame:
    """`scale` times as many rows as `raw`, drawn with replacement, with noise as above."""
    if scale < 1:
        raise ValueError(f"scale must be a positive whole number, got {scale}")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(raw), size=len(raw) * scale)
    frame = raw.iloc[rows].reset_index(drop=True)
    for column in NOISY_COLUMNS:
        values = frame[column].astype(float)
        noisy = np.round(values * (1 + rng.normal(0, NOISE_SHARE, len(frame))))
        if column == TARGET:
            noisy = np.maximum(noisy, 1)
        frame[column] = noisy.astype(raw[column].dtype) if values.notna().all() else noisy
    frame["Order"] = np.arange(1, len(frame) + 1, dtype=raw["Order"].dtype)
    frame["PID"] = np.arange(FIRST_SYNTHETIC_PID, FIRST_SYNTHETIC_PID + len(frame), dtype="int64")
    return frame


def write_like_source(frame: pd.DataFrame, path) -> None:
    """CSV in the shipped file's format: empty fields for missing values, integers as integers."""
    frame = frame.copy()
    for column in frame.select_dtypes("float"):
        values = frame[column].dropna()
        if (values == values.round()).all():
            frame[column] = frame[column].astype("Int64")
    frame.to_csv(path, index=False, lineterminator="\n")
