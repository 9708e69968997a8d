"""The model families: a registry of what can price a house.

Each family is data: a name, a builder of its unfitted sklearn estimator, a description, the
MLflow flavour its fitted estimator belongs to, the row cap of its fit, its tuning grid and
the params it reports. The model assets, the training workflow and the benchmarks all loop
over `FAMILIES`, so a third family is one entry here.

Each estimator is one sklearn Pipeline that owns all of its learned preprocessing (imputation,
scaling, category lists), so nothing learned sees the test rows. The ordinal scales are domain
knowledge, not learned, so they are given to the encoders as fixed category lists. Both
families learn log(price): sale prices are right-skewed and errors scale with price, so the
log target makes a 10% miss cost the same on a cheap and on an expensive house.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    SplineTransformer,
    StandardScaler,
)

from housing_assets.lib.data.columns import AREA_COLUMNS, NOMINAL_COLUMNS, ORDINAL_SCALES
from housing_assets.lib.data.features import MODEL_NUMERIC
from housing_assets.lib.ml.split import RANDOM_STATE

# The few huge houses (over 4,000 sq ft, some sold unfinished far below market value) stay in
# the training split: a near-twin of one of them is in the test split, and the splines below
# keep them from bending the linear fit.
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
# training split instead; on the real data, and on 10x and 100x resamples of it, the search
# picks this value.
BOOSTER_MAX_LEAF_NODES = 15
# Where the data outgrows the 2-minute schedule, each model fits on a fixed random sample of
# the training split, recorded as `fit_rows`: the booster's cost per tree hardly grows with
# the rows, the linear model's grows with rows x one-hot columns.
BOOSTER_MAX_ROWS = 10_000
LINEAR_MAX_ROWS = 10_000


class ModelFamily(NamedTuple):
    name: str  # the family's name in MLflow (tag `model_family`) and in the registry
    asset: str  # the asset that trains it
    build: Callable[[], TransformedTargetRegressor]
    description: str
    flavour: str  # the MLflow flavour of the fitted estimator inside the valuation pyfunc
    max_rows: int
    tuning_grid: dict[str, list]  # searched on the training split when a run asks to tune
    fitted_params: Callable[[TransformedTargetRegressor], dict[str, object]]


def _ordinal_step(scaled: bool) -> tuple[str, object, list[str]]:
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


def booster_preprocess() -> ColumnTransformer:
    """Numbers as they are (the booster routes missing values itself), ordinal ranks, and
    nominal levels as integer codes (levels seen fewer than 10 times in training share one)."""
    return ColumnTransformer(
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


def booster(max_iter: int = BOOSTER_ITERATIONS) -> HistGradientBoostingRegressor:
    """The histogram booster on `booster_preprocess`'s matrix, with native categorical splits."""
    is_nominal = [False] * (len(MODEL_NUMERIC) + len(ORDINAL_SCALES)) + [True] * len(
        NOMINAL_COLUMNS
    )
    return HistGradientBoostingRegressor(
        learning_rate=BOOSTER_LEARNING_RATE,
        max_iter=max_iter,
        max_leaf_nodes=BOOSTER_MAX_LEAF_NODES,
        max_features=BOOSTER_MAX_FEATURES,
        l2_regularization=1.0,
        # The tree count is fixed, not cut short on an internal hold-out (sklearn's default
        # above 10,000 rows), so that every scale fits the same model.
        early_stopping=False,
        categorical_features=is_nominal,
        random_state=RANDOM_STATE,
    )


def build_boosted_model() -> TransformedTargetRegressor:
    """Histogram gradient-boosted trees on log price, with native categorical splits."""
    model = Pipeline([("preprocess", booster_preprocess()), ("model", booster())])
    return TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp)


def _linear_params(fitted: TransformedTargetRegressor) -> dict[str, object]:
    return {"alpha": float(fitted.regressor_.named_steps["model"].alpha_)}


def _boosted_params(fitted: TransformedTargetRegressor) -> dict[str, object]:
    trees = fitted.regressor_.named_steps["model"]
    return {
        "max_leaf_nodes": trees.max_leaf_nodes,
        "learning_rate": trees.learning_rate,
        "max_iter": trees.max_iter,
        "max_features": trees.max_features,
    }


FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            name="linear",
            asset="linear_price_model",
            build=build_linear_model,
            description="Ridge regression on log price with spline-expanded log areas "
            "(sklearn Pipeline).",
            flavour="sklearn",
            max_rows=LINEAR_MAX_ROWS,
            tuning_grid={},  # its penalty is always chosen by generalised CV
            fitted_params=_linear_params,
        ),
        ModelFamily(
            name="boosted",
            asset="boosted_price_model",
            build=build_boosted_model,
            description="Histogram gradient-boosted trees on log price (sklearn Pipeline).",
            flavour="sklearn",
            max_rows=BOOSTER_MAX_ROWS,
            tuning_grid={"regressor__model__max_leaf_nodes": [7, 15]},
            fitted_params=_boosted_params,
        ),
    )
}


def family(name: str) -> ModelFamily:
    if name not in FAMILIES:
        raise ValueError(f"Unknown model family {name!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[name]
