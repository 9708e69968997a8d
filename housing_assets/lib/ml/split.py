"""The one 70/30 split of the sales, and the model's features and target on each side.

The split is of rows in file order with the seed project's `train_test_split(test_size=0.3,
random_state=42)`, so the figures compare with it. Anything learned from data (the models,
their ranges, the EDA's feature importance) sees the training rows only; the test rows are
used once, to score.
"""

from typing import NamedTuple

import pandas as pd
from sklearn.model_selection import train_test_split

from housing_assets.lib.data.cleaning import sales
from housing_assets.lib.data.columns import TARGET
from housing_assets.lib.data.features import house_features
from housing_assets.lib.data.frames import SAMPLE_SEED, fixed_sample

TEST_SIZE = 0.3
RANDOM_STATE = SAMPLE_SEED
MIN_TRAINING_ROWS = 100


class TrainingDataError(ValueError):
    """The data cannot train a model; the message says why."""


class TrainingSales(NamedTuple):
    """The training split's side of a `Split`: features, target and parcel id, one index."""

    X: pd.DataFrame
    y: pd.Series
    pid: pd.Series | None = None


class Split(NamedTuple):
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    # Each sale's parcel id, on the same index as X and y (the rows the ratio study names).
    pid: pd.Series | None = None

    @property
    def training(self) -> TrainingSales:
        pid = None if self.pid is None else self.pid.loc[self.X_train.index]
        return TrainingSales(self.X_train, self.y_train, pid)


def split_index(frame: pd.DataFrame) -> tuple[pd.Index, pd.Index]:
    """The training and test rows of a table of the sales (raw deduplicated, or cleaned)."""
    train, test = train_test_split(frame.index, test_size=TEST_SIZE, random_state=RANDOM_STATE)
    return pd.Index(train), pd.Index(test)


def pids_by_split(pids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The training and test split's parcel ids, in the split's order, from the raw table's
    PID column: the sales `split_sales` splits, known without the rest of the table."""
    sold = pids.drop_duplicates(keep="first").reset_index(drop=True)
    train, test = split_index(sold.to_frame())
    return sold.loc[train], sold.loc[test]


def split_features(X: pd.DataFrame, y: pd.Series, pid: pd.Series | None = None) -> Split:
    """Model features and target of the sales, split by `split_index`."""
    train, test = split_index(X)
    if len(train) < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"Only {len(train)} training rows after the {1 - TEST_SIZE:.0%} split of "
            f"{len(X)} rows; at least {MIN_TRAINING_ROWS} are needed to train a model"
        )
    return Split(X.loc[train], X.loc[test], y.loc[train], y.loc[test], pid)


def sale_features(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Sales as the models read them: features (the one feature path), price and parcel id."""
    return house_features(rows), rows[TARGET].astype(float), rows["PID"]


def split_sales(raw: pd.DataFrame) -> Split:
    """The raw table's sales (one per PID) as model features, split 70/30."""
    return split_features(*sale_features(sales(raw)))


def sample_rows(X: pd.DataFrame, y: pd.Series, max_rows: int) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of the same `fixed_sample` of rows."""
    X = fixed_sample(X, max_rows)
    return X, y.loc[X.index]
