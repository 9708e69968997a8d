"""Cleaning: fixed dtypes, domain-correct NA handling, real imputation, normalised copies.

Two kinds of fill, kept apart on purpose:
- domain rules, which learn nothing from the data: NA meaning "the house has none" becomes the
  level "None" (and 0 for the matching areas and counts); a missing garage year is the year
  the house was built;
- learned imputation (neighbourhood median for Lot Frontage, median or mode elsewhere), which
  is computed from all rows. The cleaned table serves analysis only.

The row-wise part (`clean_columns`) is the start of the one feature path (`lib.data.features`):
the models read its output, gaps and all, and learn their own imputation on the training
split. The cleaned table is `clean_columns` of the sales with the imputation on top, so nothing
downstream has to undo it, and each derived feature is computed once, in `clean_columns`.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import (
    ABSENT_FEATURES,
    AMES_COLUMNS,
    CATEGORICAL_COLUMNS,
    CODE_COLUMNS,
    DERIVED_FEATURES,
    NONE_LEVEL,
    NUMERIC_FEATURES,
)
from housing_assets.lib.data.frames import Columns, column_arrays
from housing_assets.lib.data.ingest import whole_numbers_as_int

ZSCORE_SUFFIX = " z-score"
# Up to this many values, a column's text is written value by value (`category_text`).
FEW_VALUES = 64


class CleaningResult(NamedTuple):
    frame: pd.DataFrame
    duplicates_dropped: int
    filled_as_absent: dict[str, int]
    imputed: dict[str, int]


def drop_duplicate_pids(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first sale of each parcel id (PID), indexed 0..n-1.

    Without duplicates (the usual feed) the result is a new frame over the same columns rather
    than a copy of every row (`loc`, then `reset_index`, copied each once); nothing downstream
    writes into a frame's arrays in place."""
    duplicated = frame["PID"].duplicated(keep="first")
    dropped = int(duplicated.sum())
    kept = frame.loc[~duplicated] if dropped else frame.copy(deep=False)
    kept.index = pd.RangeIndex(len(kept))
    return kept, dropped


def sales(raw: pd.DataFrame) -> pd.DataFrame:
    """The raw table's sales, one per PID, indexed 0..n-1: the rows of every later table and
    of the models' split."""
    return drop_duplicate_pids(raw)[0]


def sales_in_order(raw: pd.DataFrame, pids) -> pd.DataFrame:
    """The sales of these parcel ids, in their order and indexed 0..n-1, from raw rows that
    hold them all (read for them alone): each the row `sales` keeps of its PID."""
    rows = sales(raw)
    position = pd.Index(rows["PID"]).get_indexer(pd.Index(pids))
    if (position < 0).any():
        missing = list(pd.Index(pids)[position < 0][:5])
        raise LookupError(f"The raw rows hold no sale with PID {missing}")
    return rows.iloc[position].reset_index(drop=True)


def category_text(values, code: bool = False) -> np.ndarray:
    """Values as stripped text, missing as None; a numeric code 20.0 becomes '20'.

    Works on the distinct values only (a column has a handful), so it stays cheap at scale; a
    value equal to an earlier one (1 and 1.0) takes the earlier one's text. A few values (one
    house) are looked up in a dict instead: pandas' factorize costs ten times more per call
    than the whole loop.
    """

    def text(value) -> str:
        return str(int(value)) if code else str(value).strip()

    values = np.asarray(values)
    if len(values) <= FEW_VALUES:
        seen: dict = {}
        written = [None if pd.isna(v) else seen.setdefault(v, text(v)) for v in values]
        return np.array(written, dtype=object)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    lookup = np.array([*map(text, distinct), None], dtype=object)  # code -1 picks the final None
    return lookup[codes]


def fix_dtypes(columns: Columns) -> dict[str, np.ndarray]:
    """Codes and categories as text without stray whitespace (e.g. 'WD ' -> 'WD'): the
    categorical columns, replaced."""
    return {
        column: category_text(columns[column], code=column in CODE_COLUMNS)
        for column in CATEGORICAL_COLUMNS
    }


def fill_absent_features(columns: Columns) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """NA where the house has no such feature: level 'None' for categories, 0 for numbers.
    The columns it changed, and per column how many values it filled."""
    filled: dict[str, np.ndarray] = {}  # the columns changed so far, in order of the rules

    def values(column: str) -> np.ndarray:
        return filled[column] if column in filled else np.asarray(columns[column])

    counts: dict[str, int] = {}
    for feature in ABSENT_FEATURES:
        absent = pd.isna(values(feature.indicator))
        if feature.presence is not None:
            presence = values(feature.presence)
            absent &= pd.isna(presence) | (presence == 0)
        for column in (*feature.categorical, *feature.numeric):
            categorical = column in feature.categorical
            current = values(column)
            fill = absent & pd.isna(current)
            if categorical or fill.any():
                current = current.astype(object) if categorical else current.copy()
                current[fill] = NONE_LEVEL if categorical else 0
                filled[column] = current
            counts[column] = counts.get(column, 0) + int(fill.sum())
    garage_year = values("Garage Yr Blt")
    fill = pd.isna(garage_year)
    if fill.any():
        filled["Garage Yr Blt"] = np.where(fill, values("Year Built"), garage_year)
    counts["Garage Yr Blt"] = int(fill.sum())
    return filled, {column: n for column, n in counts.items() if n}


def impute_lot_frontage_by_neighborhood(frame: pd.DataFrame) -> pd.DataFrame:
    """Street frontage is alike within a neighbourhood: use its median, else the overall one."""
    frame = frame.copy()
    by_neighborhood = frame.groupby("Neighborhood")["Lot Frontage"].transform("median")
    frame["Lot Frontage"] = (
        frame["Lot Frontage"].fillna(by_neighborhood).fillna(frame["Lot Frontage"].median())
    )
    return frame


def impute_remaining(frame: pd.DataFrame) -> pd.DataFrame:
    """Median for numbers and the most frequent level for categories."""
    frame = frame.copy()
    for column in frame.columns[frame.isna().any()]:
        if column in CATEGORICAL_COLUMNS:
            modes = frame[column].mode()
            frame[column] = frame[column].fillna(modes.iloc[0] if len(modes) else NONE_LEVEL)
        else:
            median = frame[column].median()
            frame[column] = frame[column].fillna(0 if pd.isna(median) else median)
    return frame


def add_derived_features(columns: Columns) -> dict[str, np.ndarray]:
    """Totals, ages and quality-by-size interactions: the strongest single price signals."""

    def column(name: str) -> np.ndarray:
        return np.asarray(columns[name])

    total_sf = column("Total Bsmt SF") + column("1st Flr SF") + column("2nd Flr SF")
    porches = ("Wood Deck SF", "Open Porch SF", "Enclosed Porch", "3Ssn Porch", "Screen Porch")
    return {
        "Total SF": total_sf,
        "Total Bathrooms": (
            column("Full Bath")
            + 0.5 * column("Half Bath")
            + column("Bsmt Full Bath")
            + 0.5 * column("Bsmt Half Bath")
        ),
        "House Age": column("Yr Sold") - column("Year Built"),
        "Years Since Remodel": column("Yr Sold") - column("Year Remod/Add"),
        # A porch area not given counts as 0.
        "Total Porch SF": np.nansum(np.column_stack([column(p) for p in porches]), axis=1),
        "Qual x Living Area": column("Overall Qual") * column("Gr Liv Area"),
        "Qual x Total SF": column("Overall Qual") * total_sf,
    }


def add_zscores(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """z = (x - mean) / std (population std); a constant column gives 0."""
    frame = frame.copy()
    for column in columns:
        values = frame[column].astype(float)
        std = values.std(ddof=0)
        frame[column + ZSCORE_SUFFIX] = (values - values.mean()) / std if std > 0 else 0.0
    return frame


def clean_columns(raw: pd.DataFrame | Columns) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The row-wise part of cleaning: dtypes, "house has none" levels, derived features, as
    one array per column (the raw columns, then the derived ones), and the counts filled as
    absent.

    Nothing here is learned from other rows, so a single house is cleaned exactly as it is
    for training; genuine gaps stay NA for a model's own imputation. The steps pass arrays,
    not frames: a frame built per step cost more than the cleaning itself for one house.
    """
    columns = column_arrays(raw) if isinstance(raw, pd.DataFrame) else dict(raw)
    columns.update(fix_dtypes(columns))
    filled, filled_as_absent = fill_absent_features(columns)
    columns.update(filled)
    columns.update(add_derived_features(columns))
    return columns, filled_as_absent


def clean_housing(raw: pd.DataFrame) -> CleaningResult:
    """The analysis table: `clean_columns` of the sales, then imputation and z-score copies.

    A derived feature whose inputs had a gap (a missing basement area) is imputed like any
    other column, rather than derived again from imputed inputs.
    """
    frame, duplicates = drop_duplicate_pids(raw)
    columns, filled_as_absent = clean_columns(frame)
    frame = pd.DataFrame(columns, index=frame.index)
    missing = frame[list(AMES_COLUMNS)].isna()
    frame = impute_remaining(impute_lot_frontage_by_neighborhood(frame))
    frame = whole_numbers_as_int(frame, (*NUMERIC_FEATURES, *DERIVED_FEATURES))
    frame = add_zscores(frame, (*NUMERIC_FEATURES, *DERIVED_FEATURES))
    imputed = {column: int(n) for column, n in missing.sum().items() if n}
    return CleaningResult(frame, duplicates, filled_as_absent, imputed)


def missing_value_table(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column before and after cleaning, for columns that had any."""
    counts = pd.DataFrame(
        {
            "missing before": before.isna().sum(),
            "missing after": after.reindex(columns=before.columns).isna().sum(),
        }
    )
    counts["share before (%)"] = (100 * counts["missing before"] / max(len(before), 1)).round(2)
    return counts[counts["missing before"] > 0].sort_values("missing before", ascending=False)


def dtype_table(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dtype before": before.dtypes.astype(str),
            "dtype after": after.reindex(columns=before.columns).dtypes.astype(str),
        }
    )


def summary_statistics(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame[list(columns)].describe().T.round(2)
