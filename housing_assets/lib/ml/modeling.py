"""The two price models, the one train/test split, and the metrics.

Each model is one sklearn Pipeline that owns all of its learned preprocessing (imputation,
scaling, category lists), so nothing learned sees the test rows: the Pipeline is fitted on
the training split, any hyperparameter chosen by cross-validation is chosen inside that split,
and the test split is used once, to score. The ordinal scales are domain knowledge, not learned, so
they are given to the encoders as fixed category lists.

Both models learn log(price): sale prices are right-skewed and errors scale with price, so
the log target makes a 10% miss cost the same on a cheap and on an expensive house.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_log_error,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    SplineTransformer,
    StandardScaler,
)
from threadpoolctl import threadpool_limits

from housing_assets.lib.data.cleaning import (
    IMPUTED_COLUMNS,
    add_derived_features,
    restore_imputed_gaps,
)
from housing_assets.lib.data.columns import (
    AREA_COLUMNS,
    DERIVED_FEATURES,
    NOMINAL_COLUMNS,
    NUMERIC_FEATURES,
    ORDINAL_SCALES,
    TARGET,
)

TEST_SIZE = 0.3
RANDOM_STATE = 42
CV_FOLDS = 3
# A tuning run's CV folds run in 2 worker processes (one per core), each single-threaded.
CV_JOBS = 2
MIN_TRAINING_ROWS = 100
# The few huge houses (over 4,000 sq ft, some sold unfinished far below market value) stay in
# the training split: a near-twin of one of them is in the test split, and the splines below
# keep them from bending the linear fit.
MODEL_NUMERIC = (*NUMERIC_FEATURES, *DERIVED_FEATURES)
FEATURES = (*MODEL_NUMERIC, *ORDINAL_SCALES, *NOMINAL_COLUMNS)
SKEWED_FEATURES = (
    *AREA_COLUMNS, "Total SF", "Total Porch SF", "Qual x Living Area", "Qual x Total SF",
)  # fmt: skip
# Five penalties a decade: generalised cross-validation costs one pass over the data per alpha.
RIDGE_ALPHAS = tuple(np.logspace(-1, 3, 21))
SPLINE_KNOTS = 4
BOOSTER_LEARNING_RATE = 0.05
BOOSTER_ITERATIONS = 400
# Each split considers a random half of the features: better cross-validated error than all
# of them on the real data, and a little faster.
BOOSTER_MAX_FEATURES = 0.5
# The booster's tree size. A run with `tune: true` chooses it by a 3-fold grid search on the
# training split instead (six extra fits); on the real data, and on 10x and
# 100x resamples of it, the search picks this value.
BOOSTER_MAX_LEAF_NODES = 15
BOOSTER_GRID = {"regressor__model__max_leaf_nodes": [7, 15]}
# Sample sizes where the data outgrows the 2-minute schedule (10x the real data and more).
# The booster's cost per tree hardly grows with the rows; the linear model's grows with rows x
# one-hot columns. Above these caps each model fits on a fixed random sample of the training
# split, recorded as `fit_rows` (and the grid search as `tuning_rows`) in its params; the real
# data's 2,051 training rows are all used.
TUNING_MAX_ROWS = 3_000
BOOSTER_MAX_ROWS = 10_000
LINEAR_MAX_ROWS = 10_000


class TrainingDataError(ValueError):
    """The data cannot train a model; the message says why."""


class Split(NamedTuple):
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def model_input_columns() -> list[str]:
    """The columns of the cleaned table that `split_housing` reads (the warehouse loads these)."""
    return [*FEATURES, TARGET, IMPUTED_COLUMNS]


def feature_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The model's columns of cleaned rows, numbers as float64 (a gap is NaN in any of them)."""
    numeric = set(MODEL_NUMERIC)
    return pd.DataFrame(
        {
            column: rows[column].to_numpy("float64") if column in numeric else rows[column]
            for column in FEATURES
        },
        index=rows.index,
    )


def model_features(cleaned: pd.DataFrame) -> pd.DataFrame:
    """The model input: cleaned rows with the gaps that cleaning imputed put back.

    The derived features are computed again from the restored columns, so a row is described
    exactly as `clean_rows` describes the same house on its own (the valuation model's path).
    """
    return feature_frame(add_derived_features(restore_imputed_gaps(cleaned)))


def split_index(frame: pd.DataFrame) -> tuple[pd.Index, pd.Index]:
    """The one 70/30 split of the rows in file order, comparable with the seed project.

    Anything learned from data (models, EDA feature importance) uses the training rows only.
    """
    train, test = train_test_split(frame.index, test_size=TEST_SIZE, random_state=RANDOM_STATE)
    return pd.Index(train), pd.Index(test)


def split_housing(cleaned: pd.DataFrame) -> Split:
    """Features and target of the cleaned table, split by `split_index`."""
    X = model_features(cleaned)
    y = cleaned[TARGET].astype(float)
    train, test = split_index(cleaned)
    X_train, X_test, y_train, y_test = X.loc[train], X.loc[test], y.loc[train], y.loc[test]
    if len(X_train) < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"Only {len(X_train)} training rows after the {1 - TEST_SIZE:.0%} split of "
            f"{len(cleaned)} rows; at least {MIN_TRAINING_ROWS} are needed to train a model"
        )
    return Split(X_train, X_test, y_train, y_test)


def _ordinal_step(scaled: bool) -> tuple[str, Pipeline, list[str]]:
    """Ordinal scales to ranks, with the fixed (domain) level order."""
    encoder = OrdinalEncoder(
        categories=[list(scale) for scale in ORDINAL_SCALES.values()],
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
    )
    if not scaled:  # the booster routes missing ranks itself
        return ("ordinal", encoder, list(ORDINAL_SCALES))
    steps = make_pipeline(encoder, SimpleImputer(strategy="median"), StandardScaler())
    return ("ordinal", steps, list(ORDINAL_SCALES))


def build_linear_model() -> TransformedTargetRegressor:
    """Ridge on log price, with skewed areas log1p-transformed and expanded into splines.

    The quadratic splines (knots at training quantiles) let price bend with size instead of
    following one straight line out to the largest houses; every column is standardised so
    one ridge penalty, chosen by generalised cross-validation on the training split, fits all.
    """
    other_numeric = [c for c in MODEL_NUMERIC if c not in SKEWED_FEATURES]
    preprocess = ColumnTransformer(
        [
            (
                "skewed",
                make_pipeline(
                    SimpleImputer(strategy="median"),
                    FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
                    SplineTransformer(n_knots=SPLINE_KNOTS, degree=2, extrapolation="linear"),
                    StandardScaler(),
                ),
                list(SKEWED_FEATURES),
            ),
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                other_numeric,
            ),
            _ordinal_step(scaled=True),
            (
                "nominal",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False
                ),
                list(NOMINAL_COLUMNS),
            ),
        ]
    )
    # gcv_mode="svd": one SVD of the design, then every alpha is cheap (the default
    # re-multiplies the data once per alpha); the chosen alpha and the fit are the same.
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, gcv_mode="svd")
    model = Pipeline([("preprocess", preprocess), ("model", ridge)])
    return TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp)


def build_boosted_model() -> TransformedTargetRegressor:
    """Histogram gradient-boosted trees on log price, with native categorical splits.

    Numbers go in as they are (the booster routes missing values itself); nominal levels are
    coded as integers, levels seen fewer than 10 times in training share one code.
    """
    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", list(MODEL_NUMERIC)),
            _ordinal_step(scaled=False),
            (
                "nominal",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=np.nan, min_frequency=10
                ),
                list(NOMINAL_COLUMNS),
            ),
        ]
    )
    is_nominal = [False] * (len(MODEL_NUMERIC) + len(ORDINAL_SCALES)) + [True] * len(
        NOMINAL_COLUMNS
    )
    booster = HistGradientBoostingRegressor(
        learning_rate=BOOSTER_LEARNING_RATE,
        max_iter=BOOSTER_ITERATIONS,
        max_leaf_nodes=BOOSTER_MAX_LEAF_NODES,
        max_features=BOOSTER_MAX_FEATURES,
        l2_regularization=1.0,
        # The tree count is fixed, not cut short on an internal hold-out (sklearn's default
        # above 10,000 rows), so that every scale fits the same model.
        early_stopping=False,
        categorical_features=is_nominal,
        random_state=RANDOM_STATE,
    )
    model = Pipeline([("preprocess", preprocess), ("model", booster)])
    return TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "rmsle": float(root_mean_squared_log_error(y_true, np.clip(y_pred, 0, None))),
        "median_ae": float(median_absolute_error(y_true, y_pred)),
    }


class ScoredModel(NamedTuple):
    """A model fitted on the training split and scored once on the test split."""

    estimator: TransformedTargetRegressor
    params: dict[str, object]
    metrics: dict[str, float]
    test_predictions: np.ndarray
    training_rows: int


def row_sample(X: pd.DataFrame, y: pd.Series, max_rows: int) -> tuple[pd.DataFrame, pd.Series]:
    """All the rows, or a fixed random sample of `max_rows` of them above that cap."""
    if len(X) <= max_rows:
        return X, y
    rows = X.sample(n=max_rows, random_state=RANDOM_STATE).index
    return X.loc[rows], y.loc[rows]


def _cv() -> KFold:
    return KFold(n_splits=CV_FOLDS, shuffle=True, random_state=RANDOM_STATE)


class FittedModel(NamedTuple):
    """A model fitted on (a sample of) the training split, before any scoring."""

    estimator: TransformedTargetRegressor
    params: dict[str, object]
    cv_rmse: float | None
    X_fit: pd.DataFrame
    y_fit: pd.Series


def train_and_score(family: str, split: Split, tune: bool = False) -> ScoredModel:
    """Fit on the training split (tuning by CV inside it if asked), score once on the test split.

    The linear model always chooses its penalty by generalised CV (one SVD, cheap); with `tune`
    it also reports its 3-fold CV RMSE (`cv_rmse`). The booster fits its default tree size; with
    `tune` it chooses the size by grid search and reports the best `cv_rmse`. Tuning is the
    expensive part, so scheduled runs leave it out.

    OpenMP is held to one thread while fitting: on a shared 2-core machine the booster's
    spinning threads slowed a fit severalfold when another process wanted a core, while one
    thread costs little. Predicting (one pass over the rows per tree) uses both cores.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        estimator, params, cv_rmse, X_fit, y_fit = _fit(family, split, tune)
    predictions = estimator.predict(split.X_test)
    # The training-part score is taken on the rows the model was fitted on.
    train_metrics = regression_metrics(y_fit, estimator.predict(X_fit))
    metrics = {
        **{
            f"test_{name}": value
            for name, value in regression_metrics(split.y_test, predictions).items()
        },
        "train_rmse": train_metrics["rmse"],
        "train_r2": train_metrics["r2"],
    }
    if cv_rmse is not None:
        metrics["cv_rmse"] = float(cv_rmse)
    return ScoredModel(estimator, params, metrics, predictions, len(split.X_train))


def _fit(family: str, split: Split, tune: bool) -> FittedModel:
    X_train, y_train = split.X_train, split.y_train
    if family == "linear":
        X_fit, y_fit = row_sample(X_train, y_train, LINEAR_MAX_ROWS)
        estimator = build_linear_model().fit(X_fit, y_fit)
        cv_rmse = None
        if tune:
            cv_rmse = -cross_val_score(
                build_linear_model(),
                X_fit,
                y_fit,
                cv=_cv(),
                scoring="neg_root_mean_squared_error",
                n_jobs=CV_JOBS,
            ).mean()
        params = {
            "tuned": tune,
            "alpha": float(estimator.regressor_.named_steps["model"].alpha_),
            "fit_rows": len(X_fit),
        }
    elif family == "boosted":
        X_fit, y_fit = row_sample(X_train, y_train, BOOSTER_MAX_ROWS)
        best = {"regressor__model__max_leaf_nodes": BOOSTER_MAX_LEAF_NODES}
        cv_rmse = None
        params: dict[str, object] = {"tuned": tune}
        if tune:
            X_tune, y_tune = row_sample(X_fit, y_fit, TUNING_MAX_ROWS)
            search = GridSearchCV(
                build_boosted_model(),
                BOOSTER_GRID,
                cv=_cv(),
                scoring="neg_root_mean_squared_error",
                n_jobs=CV_JOBS,
                refit=False,
            ).fit(X_tune, y_tune)
            best, cv_rmse = search.best_params_, -search.best_score_
            params["tuning_rows"] = len(X_tune)
        estimator = build_boosted_model().set_params(**best).fit(X_fit, y_fit)
        params.update({k.rsplit("__", 1)[-1]: v for k, v in best.items()})
        params.update(
            learning_rate=BOOSTER_LEARNING_RATE,
            max_iter=BOOSTER_ITERATIONS,
            max_features=BOOSTER_MAX_FEATURES,
            fit_rows=len(X_fit),
        )
    else:
        raise ValueError(f"Unknown model family {family!r}; expected 'linear' or 'boosted'")
    return FittedModel(estimator, params, cv_rmse, X_fit, y_fit)


# The quality gate: the blocking check and the champion promotion use the same threshold.
MIN_TEST_R2 = 0.85
