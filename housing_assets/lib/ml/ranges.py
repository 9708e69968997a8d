"""Price ranges: normalised, price-banded split-conformal prediction on log prices.

- Out-of-fold predictions on the training split give honest log residuals r_i, as the test
  split will see them (`lib.ml.workflow` makes them from its cross-fit).
- A small gradient-boosted "difficulty" model learns |r| from the booster's encoding of a
  house, so a house like the ones the model misses (large, old, unusual) gets a wider range
  and a typical one a narrower one (Lei et al., 2018). Its values for the calibration rows
  are themselves out of fold, on the same folds.
- The ranges are Mondrian (group-conditional) by price band and asymmetric: the calibration
  rows are cut into `PRICE_BANDS` equal bands of their out-of-fold estimate, and within each
  band the signed scores r_i / sigma_i give a lower and an upper conformal quantile at
  1 - (1 - level) / 2 each (Vovk et al., 2005; Romano et al., 2019). A house's band is that of
  its estimate; its range is estimate x [exp(-lower * sigma(x)), exp(upper * sigma(x))].

Why bands and two sides: one symmetric quantile covers the cheapest and the dearest quarters
of the sales less often than the middle ones, because cheap houses miss more often below their
estimate and dear ones above it; in the training split's nested CV three asymmetric bands
evened the quartiles out (README, "Ranges for every kind of house"). Conditioning on the
estimate is what can be done before a sale: the price quartiles are defined by the sale price,
which no range can condition on.

For the booster the difficulty model reads the booster's own encoded matrix, so a served
house is encoded once; for another family it reads a booster-style encoder fitted on the
calibration rows (the linear model's spline and one-hot matrix is wider and slower to grow
trees on). The plain method (one width for every house) covers as well but is wider; the
README gives both.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from sklearn.ensemble import HistGradientBoostingRegressor

from housing_assets.lib.ml.families import booster, booster_preprocess
from housing_assets.lib.ml.lookup import LookupEncoding, lookup_encoding
from housing_assets.lib.ml.trees import FlatForest, predict_trees

DEFAULT_LEVEL = 0.9
DIFFICULTY_TREES = 100
PRICE_BANDS = 3
# A band's quantiles come from at least this many calibration rows; with fewer rows there
# are fewer bands, down to one.
MIN_BAND_ROWS = 100
# The smallest spread (in log price) the difficulty model may predict: no house is priced
# with a range narrower than the data can support.
MIN_SIGMA = 0.02


class ValuationInputError(MlflowException):
    """A house or a request the model cannot price as given; the message names the column or
    value. An MlflowException with INVALID_PARAMETER_VALUE, so MLflow's scoring server
    answers 400."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score: finite-sample coverage of at least `level`."""
    if not 0 < level < 1:
        raise ValuationInputError(f"level must be between 0 and 1, got {level}")
    n = len(scores)
    rank = min(n, int(np.ceil((n + 1) * level)))
    return float(np.sort(scores)[rank - 1])


def difficulty_model() -> HistGradientBoostingRegressor:
    """The project's booster with fewer trees, reading the booster's encoding of a house."""
    return booster(max_iter=DIFFICULTY_TREES)


def price_bands(log_estimate: np.ndarray) -> np.ndarray:
    """The inner edges (in log price) of up to PRICE_BANDS equal bands of these estimates."""
    bands = max(1, min(PRICE_BANDS, len(log_estimate) // MIN_BAND_ROWS))
    return np.quantile(log_estimate, np.arange(1, bands) / bands)


def band_of(edges: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, np.log(np.asarray(estimate, dtype=float)))


def difficulty_encoder(estimator, X: pd.DataFrame) -> LookupEncoding:
    """What the difficulty model reads a house through, as lookups: the booster's own fitted
    preprocessing, or for another family the booster's preprocessing fitted on `X`."""
    if shares_encoding(estimator):
        return price_encoding(estimator)
    return lookup_encoding(booster_preprocess().fit(X))


def price_encoding(estimator) -> LookupEncoding | None:
    """A booster's own preprocessing as lookups; None for a model that encodes otherwise."""
    if not shares_encoding(estimator):
        return None
    return lookup_encoding(estimator.regressor_.named_steps["preprocess"])


def shares_encoding(estimator) -> bool:
    return isinstance(estimator.regressor_[-1], HistGradientBoostingRegressor)


def encoded_features(estimator, X: pd.DataFrame) -> np.ndarray:
    """The matrix a fitted price model's regressor reads: its Pipeline without the last step."""
    return estimator.regressor_[:-1].transform(X)


class IntervalCalibration(NamedTuple):
    difficulty: HistGradientBoostingRegressor  # fitted: encoded house -> |log residual|
    scores: np.ndarray  # |r_i| / sigma_i of the calibration rows, out of fold
    # Fitted on the training split: a house -> the booster's encoding of it (a LookupEncoding;
    # older champions hold the fitted sklearn transformer). For the booster, that is its own
    # preprocessing, and `shares_encoding` lets a caller that has already encoded the houses
    # for the price model pass that matrix instead of encoding them again.
    # The defaults keep champions registered before these fields loadable: their difficulty
    # model is a whole Pipeline that reads the model features themselves, and their ranges are
    # one symmetric quantile of `scores`.
    encoder: object | None = None
    shares_encoding: bool = False
    signed: np.ndarray | None = None  # r_i / sigma_i, the same rows
    band: np.ndarray | None = None  # each calibration row's price band (`price_bands`)
    band_edges: np.ndarray | None = None

    def sigma(
        self,
        X: pd.DataFrame,
        encoded: np.ndarray | None = None,
        trees: FlatForest | None = None,
    ) -> np.ndarray:
        """`encoded`: optionally, X as the price model encodes it (`encoded_features`);
        `trees`: optionally, the difficulty model's trees as flat arrays (`lib.ml.trees`)."""
        if self.shares_encoding and encoded is not None:
            features = encoded
        elif self.encoder is None:
            features = X
        else:
            features = self.encoder.transform(X)
        return np.clip(predict_trees(self.difficulty, trees, features), MIN_SIGMA, None)

    def band_quantiles(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Per price band, the lower and upper score quantile of a `level` range (at least 0,
        so a range always holds its estimate)."""
        if self.signed is None:
            q = conformal_quantile(self.scores, level)
            return np.array([q]), np.array([q])
        side = 1 - (1 - level) / 2
        lower, upper = [], []
        for b in range(len(self.band_edges) + 1):
            members = self.signed[self.band == b]
            # Tied estimates can leave a band between two equal edges empty: it takes all rows.
            members = members if len(members) else self.signed
            lower.append(conformal_quantile(-members, side))
            upper.append(conformal_quantile(members, side))
        return np.clip(lower, 0, None), np.clip(upper, 0, None)

    def interval(
        self,
        X: pd.DataFrame,
        estimate: np.ndarray,
        level: float = DEFAULT_LEVEL,
        encoded: np.ndarray | None = None,
        trees: FlatForest | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        sigma = self.sigma(X, encoded, trees)
        lower, upper = self.band_quantiles(level)
        band = 0 if self.signed is None else band_of(self.band_edges, estimate)
        return estimate * np.exp(-lower[band] * sigma), estimate * np.exp(upper[band] * sigma)


def banded_calibration(
    difficulty,
    residual: np.ndarray,
    sigma: np.ndarray,
    log_estimate: np.ndarray,
    encoder,
    shares: bool,
) -> IntervalCalibration:
    """A calibration from signed out-of-fold log residuals, their out-of-fold sigmas and
    estimates: scores, price bands and each row's band."""
    signed = residual / sigma
    edges = price_bands(log_estimate)
    band = np.searchsorted(edges, log_estimate)
    return IntervalCalibration(difficulty, np.abs(signed), encoder, shares, signed, band, edges)
