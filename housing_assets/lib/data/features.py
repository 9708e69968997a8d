"""The one feature path: source rows to the models' features, row by row.

Training, the ranges' calibration, the backtest, the batch valuations and the scoring server
all describe a house with `house_features`, so a house is the same to the model wherever it
comes from. It learns nothing from other rows: the "house has none" levels are domain rules,
and genuine gaps stay NaN for each model to impute inside its own Pipeline, fitted on the
training split only. The cleaned analysis table is made from the same cleaned rows
(`lib.data.cleaning.clean_housing`) and adds its imputed values for the EDA; the models never
read those.
"""

import numpy as np
import pandas as pd

from housing_assets.lib.data.cleaning import clean_columns
from housing_assets.lib.data.columns import (
    DERIVED_FEATURES,
    NOMINAL_COLUMNS,
    NUMERIC_FEATURES,
    ORDINAL_SCALES,
)
from housing_assets.lib.data.frames import Columns

MODEL_NUMERIC = (*NUMERIC_FEATURES, *DERIVED_FEATURES)
FEATURES = (*MODEL_NUMERIC, *ORDINAL_SCALES, *NOMINAL_COLUMNS)


def feature_frame(columns: Columns, index: pd.Index) -> pd.DataFrame:
    """The model's columns of cleaned rows (`clean_columns`), numbers as float64 (a gap is NaN
    in any of them)."""
    numeric = set(MODEL_NUMERIC)
    return pd.DataFrame(
        {
            column: np.asarray(columns[column], "float64") if column in numeric else columns[column]
            for column in FEATURES
        },
        index=index,
    )


def house_features(raw: pd.DataFrame | Columns, index: pd.Index | None = None) -> pd.DataFrame:
    """Source rows (the file's columns and values) as the models' features; rows given as
    arrays (`Columns`) take `index`."""
    return feature_frame(clean_columns(raw)[0], raw.index if index is None else index)
