"""The model workflow: fit, calibrate the ranges, backtest and score, in one cross-fit.

One function (`train_model`) turns a family and the split into a fitted model, its valuation
pyfunc and every figure logged for it; `train_log_promote` adds MLflow logging, the quality
gate and the champion decision. The model assets and the benchmarks both call these.

The cost of a model is its fits, so every fit the ranges and the backtest need is made once,
in one batch that runs on both cores (single-threaded fits in two worker processes):

- the model on the training split (its `fit_rows`);
- K = 5 fold models on the calibration rows (shuffled folds), each scoring the fold it left
  out, so every calibration row has an honest residual from a model that did not see it;
- the backtest model on the training rows before `BACKTEST_YEAR`, scored on every sale of
  that year.

The difficulty models (100 trees, fast) are fitted in a second batch on the same folds. The
backtest's range reuses the fold residuals of the earlier sales and a difficulty model fitted
on them alone. Those residuals come from fold models that also saw training sales of the
backtest year, so the backtest's estimates are strictly out of time but its range's width is
not: the price of one refit per fold. Time-ordered folds, which would avoid that, trained
each fold model on less data and made the ranges wider (README, Cost). Before this design the
ranges and the backtest refitted each model 9 more times, one after the other.
"""

from collections.abc import Callable
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold

from housing_assets.lib.data.features import FEATURES
from housing_assets.lib.ml.comparables import ComparablePool, comparable_pool
from housing_assets.lib.ml.families import FAMILIES, ModelFamily, family
from housing_assets.lib.ml.fitting import FIT_JOBS, fit_all, workers
from housing_assets.lib.ml.metrics import interval_metrics, regression_metrics
from housing_assets.lib.ml.ranges import (
    DEFAULT_LEVEL,
    MIN_SIGMA,
    IntervalCalibration,
    banded_calibration,
    difficulty_encoder,
    difficulty_model,
    encoded_features,
    price_encoding,
    shares_encoding,
)
from housing_assets.lib.ml.ratio_study import (
    BACKTEST_SCOPE,
    CV_SCOPE,
    SCORED_COLUMNS,
    TEST_SCOPE,
    ratio_statistics,
    validated_sales,
)
from housing_assets.lib.ml.reasons import LinearReasons, linear_reasons
from housing_assets.lib.ml.split import RANDOM_STATE, Split, TrainingSales, sample_rows
from housing_assets.lib.ml.valuation import HousePriceModel, price_estimate
from housing_assets.lib.registry.champion import (
    Challenger,
    ChampionDecision,
    RegistryTarget,
    load_champion,
    register_decision,
)
from housing_assets.lib.registry.datasets import WarehouseTableSource, log_split_inputs
from housing_assets.lib.registry.scored import log_scored_sales
from housing_assets.lib.registry.store import check_requirements_early, log_valuation_model

CALIBRATION_FOLDS = 5
# Above this many training rows, calibration works on a fixed random sample of them.
CALIBRATION_MAX_ROWS = 3_000
BACKTEST_YEAR = 2010
# A tuning run's grid search: 3 folds on a fixed sample of the training split.
TUNING_FOLDS = 3
TUNING_MAX_ROWS = 3_000
# Above this many training sales, comparables come from a fixed random sample of them.
POOL_MAX_ROWS = 5_000


class TrainedModel(NamedTuple):
    """A model fitted on the training split, calibrated, backtested and scored once."""

    family: ModelFamily
    estimator: object
    valuation: HousePriceModel
    params: dict[str, object]
    metrics: dict[str, float]
    test_predictions: np.ndarray
    training_rows: int
    # The test split's and the backtest's sales with their estimates (`lib.ml.ratio_study`).
    scored: pd.DataFrame


def tune(fam: ModelFamily, X: pd.DataFrame, y: pd.Series, jobs: int) -> tuple[dict, float, int]:
    """The best grid point (an empty grid: the defaults) by 3-fold CV, its CV RMSE, the rows."""
    X, y = sample_rows(X, y, TUNING_MAX_ROWS)
    with workers():
        search = GridSearchCV(
            fam.build(),
            fam.tuning_grid or [{}],
            cv=KFold(TUNING_FOLDS, shuffle=True, random_state=RANDOM_STATE),
            scoring="neg_root_mean_squared_error",
            n_jobs=jobs,
            refit=False,
        ).fit(X, y)
    return search.best_params_, float(-search.best_score_), len(X)


class CrossFit(NamedTuple):
    estimator: object  # fitted on X_fit, the training split (or its `fit_rows` sample)
    backtest_model: object  # fitted on the training rows before BACKTEST_YEAR
    X_cal: pd.DataFrame
    y_cal: pd.Series
    out_of_fold: np.ndarray  # log price of each calibration row, from a model that did not see it
    fold: np.ndarray  # the fold (0..K-1) that left the row out
    X_fit: pd.DataFrame
    y_fit: pd.Series


def calibration_folds(n: int) -> list[np.ndarray]:
    """The rows each of the K folds leaves out (shuffled, fixed)."""
    folds = KFold(CALIBRATION_FOLDS, shuffle=True, random_state=RANDOM_STATE)
    return [test for _, test in folds.split(np.arange(n))]


def cross_fit(template, fam: ModelFamily, split: Split, jobs: int) -> CrossFit:
    X_fit, y_fit = sample_rows(split.X_train, split.y_train, fam.max_rows)
    X_cal, y_cal = sample_rows(split.X_train, split.y_train, CALIBRATION_MAX_ROWS)
    earlier = split.X_train["Yr Sold"] < BACKTEST_YEAR
    X_past, y_past = sample_rows(split.X_train[earlier], split.y_train[earlier], fam.max_rows)
    held_out = calibration_folds(len(X_cal))
    batches = [(X_fit, y_fit), (X_past, y_past)]
    for rows in held_out:
        kept = np.setdiff1d(np.arange(len(X_cal)), rows)
        batches.append((X_cal.iloc[kept], y_cal.iloc[kept]))
    estimator, backtest_model, *fold_models = fit_all(template, batches, jobs)
    fold = np.empty(len(X_cal), dtype=int)
    predictions = np.empty(len(X_cal))
    for k, (rows, model) in enumerate(zip(held_out, fold_models, strict=True)):
        fold[rows] = k
        predictions[rows] = model.predict(X_cal.iloc[rows])
    return CrossFit(
        estimator, backtest_model, X_cal, y_cal, np.log(predictions), fold, X_fit, y_fit
    )


class Calibrations(NamedTuple):
    served: IntervalCalibration  # every calibration row: the model's own ranges
    backtest: IntervalCalibration  # the rows before BACKTEST_YEAR only


def calibrate(fitted: CrossFit, jobs: int) -> Calibrations:
    """Difficulty models on the cross-fit's residuals: out of fold (the same folds) for the
    scores, then on every row for the model's ranges and on the earlier rows for the
    backtest's; then the price-banded quantiles of each (`lib.ml.ranges`)."""
    encoder = difficulty_encoder(fitted.estimator, fitted.X_cal)
    features = encoder.transform(fitted.X_cal)
    signed = np.log(fitted.y_cal.to_numpy(float)) - fitted.out_of_fold
    residual = np.abs(signed)
    earlier = (fitted.X_cal["Yr Sold"] < BACKTEST_YEAR).to_numpy()
    folds = range(CALIBRATION_FOLDS)
    batches = [(features, residual), (features[earlier], residual[earlier])]
    batches += [(features[fitted.fold != k], residual[fitted.fold != k]) for k in folds]
    served, past, *fold_models = fit_all(difficulty_model(), batches, jobs)
    sigma = np.empty(len(residual))
    for k, model in zip(folds, fold_models, strict=True):
        sigma[fitted.fold == k] = model.predict(features[fitted.fold == k])
    sigma = np.clip(sigma, MIN_SIGMA, None)
    oof, sharing = fitted.out_of_fold, shares_encoding(fitted.estimator)
    return Calibrations(
        banded_calibration(served, signed, sigma, oof, encoder, sharing),
        banded_calibration(past, signed[earlier], sigma[earlier], oof[earlier], encoder, False),
    )


# The ratio study's figures a model run logs for each scope (`lib.ml.ratio_study`).
LOGGED_RATIO_STATISTICS = ("median_ratio", "cod", "prd", "prb", "ppe10", "fsd")


def split_pids(split: Split, X: pd.DataFrame) -> np.ndarray:
    """The parcel ids of some of a split's rows (their index when the split has none)."""
    return split.pid.loc[X.index].to_numpy() if split.pid is not None else X.index.to_numpy()


def scored_sales(
    scope: str, pid, X: pd.DataFrame, y: pd.Series, estimate, low, high, level: float
) -> pd.DataFrame:
    """Sales a model priced with their ranges, as the ratio study reads them
    (`SCORED_COLUMNS`). X holds the houses' neighbourhood and sale condition, as model
    features or as the source describes them."""
    return pd.DataFrame(
        {
            "scope": scope,
            "PID": np.asarray(pid),
            "Neighborhood": X["Neighborhood"].astype(str).to_numpy(),
            "sale_condition": X["Sale Condition"].astype(str).to_numpy(),
            "sale_price": y.to_numpy(dtype=float),
            "estimate": np.asarray(estimate, dtype=float),
            "low": np.asarray(low, dtype=float),
            "high": np.asarray(high, dtype=float),
            "interval_level": np.full(len(X), level, dtype=float),
        },
        columns=list(SCORED_COLUMNS),
    )


def ratio_metrics(scope: str, scored: pd.DataFrame) -> dict[str, float]:
    """The logged ratio statistics of a scope's sales: all of them (`test_cod`), and the
    validated sample (`test_validated_cod`, with `test_validated_sales`)."""
    validated = validated_sales(scored)
    samples = [(scope, scored)] + ([(f"{scope}_validated", validated)] if len(validated) else [])
    metrics = {f"{scope}_validated_sales": float(len(validated))}
    for prefix, sales in samples:
        stats = ratio_statistics(sales["estimate"], sales["sale_price"])
        metrics.update({f"{prefix}_{name}": stats[name] for name in LOGGED_RATIO_STATISTICS})
    return metrics


def cross_validated_sales(fitted: CrossFit, split: Split) -> pd.DataFrame:
    """The calibration rows (the training split, or its sample) priced by the fold model that
    left each out: the 5-fold CV figures beside the test split's, at no extra fit. They have
    no ranges: their scores are what the ranges are calibrated on."""
    nothing = np.full(len(fitted.X_cal), np.nan)
    estimate = np.exp(fitted.out_of_fold)
    return scored_sales(
        CV_SCOPE, split_pids(split, fitted.X_cal), fitted.X_cal, fitted.y_cal, estimate,
        nothing, nothing, np.nan,
    )  # fmt: skip


def backtest(
    fitted: CrossFit, calibration: IntervalCalibration, split: Split, level: float = DEFAULT_LEVEL
) -> tuple[dict, pd.DataFrame | None]:
    """The backtest model on every sale of BACKTEST_YEAR (training and test rows): the future,
    not a random past. Its metrics and its scored sales (None without a backtest)."""
    X = pd.concat([split.X_train, split.X_test])
    y = pd.concat([split.y_train, split.y_test])
    future = (X["Yr Sold"] == BACKTEST_YEAR).to_numpy()
    if not future.any() or len(calibration.scores) < CALIBRATION_FOLDS * 10:
        return {}, None
    model = fitted.backtest_model
    estimate = price_estimate(model, encoded_features(model, X[future]))
    low, high = calibration.interval(X[future], estimate, level)
    errors = regression_metrics(y[future], estimate)
    scored = scored_sales(
        BACKTEST_SCOPE, split_pids(split, X[future]), X[future], y[future], estimate, low, high,
        level,
    )  # fmt: skip
    metrics = {
        "backtest_rmse": errors["rmse"],
        "backtest_mae": errors["mae"],
        "backtest_r2": errors["r2"],
        "backtest_interval_coverage": interval_metrics(y[future], low, high)["interval_coverage"],
        "backtest_rows": float(future.sum()),
        **ratio_metrics(BACKTEST_SCOPE, scored),
    }
    return metrics, scored


def train_model(
    name: str,
    split: Split,
    tune_grid: bool = False,
    level: float = DEFAULT_LEVEL,
    jobs: int = FIT_JOBS,
) -> TrainedModel:
    """Fit a family on the training split, calibrate its ranges, backtest it, score it once.

    With `tune_grid`, the family's grid is searched by 3-fold CV on the training split first
    (and `cv_rmse` reported); scheduled runs leave it out, being the expensive part.
    """
    fam = family(name)
    template = fam.build()
    params: dict[str, object] = {"tuned": tune_grid}
    metrics: dict[str, float] = {}
    if tune_grid:
        best, metrics["cv_rmse"], params["tuning_rows"] = tune(
            fam, split.X_train, split.y_train, jobs
        )
        template.set_params(**best)
    fitted = cross_fit(template, fam, split, jobs)
    calibrations = calibrate(fitted, jobs)
    estimator = fitted.estimator
    params.update(fam.fitted_params(estimator), fit_rows=len(fitted.X_fit))
    valuation = HousePriceModel(
        estimator, calibrations.served, level, price_encoding(estimator),
        explainable_linear(estimator, fitted.X_fit), known_sales(split.training),
    )  # fmt: skip
    test = valuation.ranges(split.X_test, level)
    predictions = test["estimate"].to_numpy()
    # The training-part score is taken on the rows the model was fitted on.
    seen = regression_metrics(fitted.y_fit, estimator.predict(fitted.X_fit))
    ranges = interval_metrics(split.y_test, test["low"], test["high"])
    backtested, backtest_scored = backtest(fitted, calibrations.backtest, split, level)
    test_scored = scored_sales(
        TEST_SCOPE, split_pids(split, split.X_test), split.X_test, split.y_test, predictions,
        test["low"], test["high"], level,
    )  # fmt: skip
    metrics = {
        **{f"test_{k}": v for k, v in regression_metrics(split.y_test, predictions).items()},
        "train_rmse": seen["rmse"],
        "train_r2": seen["r2"],
        **metrics,
        "test_interval_coverage": ranges["interval_coverage"],
        "test_interval_median_width": ranges["interval_median_width"],
        **ratio_metrics(TEST_SCOPE, test_scored),
        **backtested,
    }
    cv_scored = cross_validated_sales(fitted, split)
    metrics.update(ratio_metrics(CV_SCOPE, cv_scored))
    scored = pd.concat([test_scored, backtest_scored, cv_scored], ignore_index=True)
    return TrainedModel(
        fam, estimator, valuation, params, metrics, predictions, len(split.X_train), scored
    )


def known_sales(training: TrainingSales) -> ComparablePool:
    """The training split's sales (a fixed sample above POOL_MAX_ROWS), where comparables
    come from."""
    X, y = sample_rows(training.X, training.y, POOL_MAX_ROWS)
    pid = training.pid.loc[X.index] if training.pid is not None else X.index
    return comparable_pool(X, y, pid.to_numpy())


def explainable_linear(estimator, X_fit: pd.DataFrame) -> LinearReasons | None:
    """The reasons of a family whose last step is linear (coefficients); a booster's come
    from its trees instead (`lib.ml.reasons`)."""
    if not hasattr(estimator.regressor_[-1], "coef_"):
        return None
    return linear_reasons(estimator, X_fit, FEATURES)


class Promotion(NamedTuple):
    trained: TrainedModel
    model_info: object  # MLflow's ModelInfo of the logged, registered pyfunc
    decision: ChampionDecision
    comparison: pd.DataFrame


def train_log_promote(
    name: str,
    split: Split,
    example_houses: pd.DataFrame,
    gate: Callable[[TrainedModel], tuple[str, ...]],
    client,
    registry: RegistryTarget,
    tune_grid: bool = False,
    data_version: str | None = None,
    inputs: WarehouseTableSource | None = None,
    jobs: int = FIT_JOBS,
    split_name: str | None = None,
) -> Promotion:
    """The whole workflow inside the caller's active MLflow run: train (`train_model`), log
    params, metrics (the ratio study's among them), the scored test and backtest sales
    (`lib.registry.scored`) and the valuation pyfunc (registered as a new version), run the quality
    gate (`gate` returns the names of the blocking checks that failed), then decide on the
    champion and move its alias last (`lib.registry.champion.register_decision`). With
    `inputs`, the training and test split are logged as the run's datasets, read from that
    table (`lib.registry.datasets`). `split_name` names the test split to the champion rule,
    so the model steps of one run score the champion once (`register_decision`)."""
    # A champion that cannot be loaded fails the step here, before a model is logged or a
    # version registered (the caller's MLflow run ends FAILED, empty).
    checked = load_champion(client, registry.model, registry.alias, scoring=True)
    check_requirements_early()
    trained = train_model(name, split, tune_grid, jobs=jobs)
    mlflow.log_params(
        {**trained.params, "train_rows": len(split.X_train), "test_rows": len(split.X_test),
         "interval_level": trained.valuation.level}
    )  # fmt: skip
    mlflow.log_metrics(trained.metrics)
    log_scored_sales(trained.scored)
    if inputs is not None:
        log_split_inputs(split.X_train, split.X_test, inputs)
    info = log_valuation_model(trained.valuation, example_houses, registry.model)
    challenger = Challenger(
        version=str(info.registered_model_version),
        family=trained.family.name,
        test_rmse=trained.metrics["test_rmse"],
        failed_gate_checks=gate(trained),
        data_version=data_version,
    )
    decision, comparison = register_decision(
        client,
        registry.model,
        registry.alias,
        challenger,
        split.X_test,
        split.y_test,
        lock_path=registry.lock_path,
        families=tuple(FAMILIES),
        checked=checked,
        split=split_name,
    )
    return Promotion(trained, info, decision, comparison)
