"""Valuations: the champion as a model that prices a house as the source file describes it.

A valuation team prices houses it has not sold, one at a time from another program and in
batches, and needs a range it can trust, not only a point. So the registered model is an MLflow
pyfunc (`HousePriceModel`) whose input is a row shaped like `data/AmesHousing.csv` (De Cock's
column names, absent features as NA, columns the model does not use ignored). It applies the
pipeline's own row-wise cleaning (`lib.data.cleaning.clean_rows`) and the fitted sklearn Pipeline, and
returns per house an `estimate` and a `low`-`high` range for a level (default 90%).

The range is normalised split-conformal prediction on log prices (Lei et al., 2018):
- out-of-fold predictions on the training split (K folds, each model refitted on the other
  folds) give honest log residuals r_i, as the test split will see them;
- a small gradient-boosted "difficulty" model learns |r| from the booster's encoding of the
  features (for the booster, its own encoded matrix, so a house is encoded once), so a house
  like the ones the model misses (large, old, unusual) gets a wider range and a typical one
  a narrower one; its values for the calibration rows are themselves out of fold;
- the scores |r_i| / sigma_i give the conformal quantile q for a level, and a house's range is
  estimate x exp(-/+ q * sigma(x)).
Everything is fitted on the training split only. The plain method (one width for every house)
covers as well but is wider; the README gives both.
"""

from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict
from threadpoolctl import threadpool_limits

from housing_assets.lib.data.cleaning import clean_rows
from housing_assets.lib.data.columns import AMES_COLUMNS, NUMERIC_COLUMNS
from housing_assets.lib.data.ingest import numbers_from_text
from housing_assets.lib.ml.modeling import (
    FEATURES,
    RANDOM_STATE,
    Split,
    build_boosted_model,
    feature_frame,
    regression_metrics,
    row_sample,
)

DEFAULT_LEVEL = 0.9
CALIBRATION_FOLDS = 5
BACKTEST_FOLDS = 3
# Above this many training rows, calibration works on a fixed random sample of them.
CALIBRATION_MAX_ROWS = 3_000
# The backtest's refit on the earlier sales is capped like the models' own fits.
BACKTEST_MAX_ROWS = 10_000
DIFFICULTY_TREES = 100
# The smallest spread (in log price) the difficulty model may predict: no house is priced
# with a range narrower than the data can support.
MIN_SIGMA = 0.02
REQUIRED_COLUMNS = tuple(c for c in AMES_COLUMNS if c in FEATURES)
OUTPUT_COLUMNS = ("estimate", "low", "high")
BACKTEST_YEAR = 2010


class ValuationInputError(MlflowException):
    """A house the model cannot price as given; the message names the column or value.

    An MlflowException with INVALID_PARAMETER_VALUE, so MLflow's scoring server answers 400.
    """

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score: finite-sample coverage of at least `level`."""
    if not 0 < level < 1:
        raise ValuationInputError(f"level must be between 0 and 1, got {level}")
    n = len(scores)
    rank = min(n, int(np.ceil((n + 1) * level)))
    return float(np.sort(scores)[rank - 1])


def encoded_features(estimator, X: pd.DataFrame) -> np.ndarray:
    """The matrix a fitted price model's regressor reads: its Pipeline without the last step."""
    return estimator.regressor_[:-1].transform(X)


def _difficulty_model() -> HistGradientBoostingRegressor:
    """The project's booster with fewer trees, reading the booster's encoding of a house."""
    return (
        build_boosted_model().regressor.named_steps["model"].set_params(max_iter=DIFFICULTY_TREES)
    )


class IntervalCalibration(NamedTuple):
    difficulty: HistGradientBoostingRegressor  # fitted: encoded house -> |log residual|
    scores: np.ndarray  # |r_i| / sigma_i of the calibration rows, out of fold
    # Fitted on the training split: a house -> the booster's encoding of it. For the booster,
    # that is its own preprocessing, and `shares_encoding` lets a caller that has already
    # encoded the houses for the price model pass that matrix instead of encoding them again.
    # The defaults keep champions registered before these fields loadable: their difficulty
    # model is a whole Pipeline that reads the model features themselves.
    encoder: object | None = None
    shares_encoding: bool = False

    def sigma(self, X: pd.DataFrame, encoded: np.ndarray | None = None) -> np.ndarray:
        """`encoded`: optionally, X as the price model encodes it (`encoded_features`)."""
        if self.shares_encoding and encoded is not None:
            features = encoded
        elif self.encoder is None:
            features = X
        else:
            features = self.encoder.transform(X)
        return np.clip(self.difficulty.predict(features), MIN_SIGMA, None)

    def interval(
        self,
        X: pd.DataFrame,
        estimate: np.ndarray,
        level: float = DEFAULT_LEVEL,
        encoded: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        spread = np.exp(conformal_quantile(self.scores, level) * self.sigma(X, encoded))
        return estimate / spread, estimate * spread


def _folds(folds: int) -> KFold:
    return KFold(folds, shuffle=True, random_state=RANDOM_STATE)


def calibrate_intervals(
    estimator, X: pd.DataFrame, y: pd.Series, folds: int = CALIBRATION_FOLDS
) -> IntervalCalibration:
    """Normalised conformal calibration of a fitted price model on these rows only.

    Out-of-fold predictions refit a copy of `estimator` on the other folds. The difficulty
    model reads the booster's encoding of the rows: the booster's own matrix, or for another
    model (the linear one's splines and one-hot columns are much wider, and slower to grow
    trees on) the booster's preprocessing fitted on these rows.
    """
    X, y = row_sample(X, y, CALIBRATION_MAX_ROWS)
    with threadpool_limits(limits=1, user_api="openmp"):
        predictions = cross_val_predict(clone(estimator), X, y, cv=_folds(folds))
        residual = np.abs(np.log(y.to_numpy(float)) - np.log(predictions))
        shares_encoding = isinstance(estimator.regressor_[-1], HistGradientBoostingRegressor)
        if shares_encoding:
            encoder = estimator.regressor_[:-1]
        else:
            encoder = build_boosted_model().regressor.named_steps["preprocess"].fit(X)
        features = encoder.transform(X)
        difficulty = _difficulty_model()
        sigma = np.clip(
            cross_val_predict(difficulty, features, residual, cv=_folds(folds)), MIN_SIGMA, None
        )
        difficulty.fit(features, residual)
    return IntervalCalibration(difficulty, residual / sigma, encoder, shares_encoding)


def interval_metrics(y, low, high) -> dict[str, float]:
    y, low, high = (np.asarray(v, dtype=float) for v in (y, low, high))
    return {
        "interval_coverage": float(np.mean((y >= low) & (y <= high))),
        "interval_median_width": float(np.median(high - low)),
    }


def priced_accuracy(sale_price, estimate, low, high) -> dict[str, float]:
    """Error and range coverage of priced houses, on those with a sale price (none: {})."""
    sold = ~np.isnan(np.asarray(sale_price, dtype=float))
    if not sold.any():
        return {}
    y, estimate, low, high = (
        np.asarray(v, dtype=float)[sold] for v in (sale_price, estimate, low, high)
    )
    errors = regression_metrics(y, estimate)
    return {
        "houses_with_sale_price": int(sold.sum()),
        "interval_coverage": interval_metrics(y, low, high)["interval_coverage"],
        "rmse": errors["rmse"],
        "mae": errors["mae"],
    }


def backtest(template, X: pd.DataFrame, y: pd.Series, year: int = BACKTEST_YEAR) -> dict:
    """Refit on the sales before `year`, score on the sales of `year`: the future, not a
    random past. The range is calibrated on the earlier sales too."""
    sold = X["Yr Sold"]
    X_past, y_past = row_sample(X[sold < year], y[sold < year], BACKTEST_MAX_ROWS)
    X_future, y_future = X[sold == year], y[sold == year]
    if X_future.empty or len(X_past) < CALIBRATION_FOLDS * 10:
        return {}
    with threadpool_limits(limits=1, user_api="openmp"):
        model = clone(template).fit(X_past, y_past)
    estimate = model.predict(X_future)
    low, high = calibrate_intervals(model, X_past, y_past, BACKTEST_FOLDS).interval(
        X_future, estimate
    )
    metrics = regression_metrics(y_future, estimate)
    return {
        "backtest_rmse": metrics["rmse"],
        "backtest_mae": metrics["mae"],
        "backtest_r2": metrics["r2"],
        "backtest_interval_coverage": interval_metrics(y_future, low, high)["interval_coverage"],
        "backtest_rows": float(len(X_future)),
    }


def houses_as_cleaned_rows(houses: pd.DataFrame, where: str = "the input") -> pd.DataFrame:
    """Raw-format rows, checked and cleaned row by row: what the fitted Pipeline reads."""
    if len(houses) == 0:
        raise ValuationInputError(f"{where} has no house to price (0 rows)")
    missing = [c for c in REQUIRED_COLUMNS if c not in houses.columns]
    if missing:
        raise ValuationInputError(
            f"{where} lacks {len(missing)} required column(s): {', '.join(missing)}"
        )
    # An empty field is a missing value, as when the source file is read (`lib.data.ingest`).
    frame = houses.reindex(columns=list(AMES_COLUMNS)).replace("", None)
    # Text from a request ("1710") is read as the source file's numbers are; a number that is
    # not one is named with its column.
    text = [c for c in NUMERIC_COLUMNS if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        frame, problems = numbers_from_text(frame, text)
        if problems:
            raise ValuationInputError(f"{where}: " + "; ".join(problems))
    return clean_rows(frame)


class HousePriceModel(mlflow.pyfunc.PythonModel):
    """A price estimate and a calibrated range for each house in the source file's format."""

    def __init__(self, estimator, calibration: IntervalCalibration, level: float = DEFAULT_LEVEL):
        self.estimator = estimator
        self.calibration = calibration
        self.level = level

    def ranges(self, X: pd.DataFrame, level: float | None = None) -> pd.DataFrame:
        """Estimate, low and high for model features (`lib.ml.modeling.feature_frame`)."""
        encoded = encoded_features(self.estimator, X)
        estimate = self.estimator.inverse_func(self.estimator.regressor_[-1].predict(encoded))
        low, high = self.calibration.interval(X, estimate, level or self.level, encoded)
        return pd.DataFrame({"estimate": estimate, "low": low, "high": high}, index=X.index)

    def price(self, houses: pd.DataFrame, level: float | None = None) -> pd.DataFrame:
        return self.ranges(feature_frame(houses_as_cleaned_rows(houses)), level)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        return self.price(model_input, (params or {}).get("level"))


class Valuation(NamedTuple):
    model: HousePriceModel
    metrics: dict[str, float]


def build_valuation(
    estimator, split: Split, test_estimates, level: float = DEFAULT_LEVEL
) -> Valuation:
    """The valuation pyfunc of a fitted estimator, with its interval and backtest metrics.

    Calibration sees the training split only; the test split scores the ranges once. The
    backtest refits a copy on every sale before 2010 and scores it on the 2010 sales.
    """
    calibration = calibrate_intervals(estimator, split.X_train, split.y_train)
    low, high = calibration.interval(split.X_test, test_estimates, level)
    scored = interval_metrics(split.y_test, low, high)
    X_all, y_all = (
        pd.concat([split.X_train, split.X_test]),
        pd.concat([split.y_train, split.y_test]),
    )
    metrics = {
        "test_interval_coverage": scored["interval_coverage"],
        "test_interval_median_width": scored["interval_median_width"],
        **backtest(clone(estimator), X_all, y_all),
    }
    return Valuation(HousePriceModel(estimator, calibration, level), metrics)
