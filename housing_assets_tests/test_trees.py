"""The flat-array walk of a fitted booster (`lib.ml.trees`) against scikit-learn's predict.

It reads scikit-learn's private fitted attributes (`_predictors`, `_bin_mapper`,
`_preprocessor`, `_baseline_prediction`), so these tests are what fails if a scikit-learn
release moves them: the predictions must be equal, not close.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from housing_assets.lib.data.features import house_features
from housing_assets.lib.ml.families import (
    FAMILIES,
    booster,
    booster_preprocess,
    build_boosted_model,
)
from housing_assets.lib.ml.ranges import (
    IntervalCalibration,
    difficulty_model,
    encoded_features,
    price_encoding,
)
from housing_assets.lib.ml.split import split_sales
from housing_assets.lib.ml.trees import (
    FLAT_MAX_ROWS,
    PREDICT_BLOCK_ROWS,
    flat_forest,
    predict_trees,
)
from housing_assets.lib.ml.valuation import HousePriceModel, price_estimate


@pytest.fixture(scope="module")
def encoded(raw_frame):
    """Every sale through the booster's own preprocessing, fitted on the training split."""
    split = split_sales(raw_frame)
    preprocess = booster_preprocess().fit(split.X_train)
    X_train = preprocess.transform(split.X_train)
    return preprocess.transform(house_features(raw_frame)), X_train, np.log(split.y_train)


@pytest.fixture(scope="module")
def fitted(encoded):
    _, X_train, y_train = encoded
    price = booster().fit(X_train, y_train)
    difficulty = difficulty_model().fit(X_train, np.abs(y_train - price.predict(X_train)))
    return {"price": price, "difficulty": difficulty}


def odd_rows(X: np.ndarray) -> np.ndarray:
    """Nominal codes the booster never saw (77), negative codes, and gaps everywhere."""
    odd = X.copy()
    nominal = slice(-5, None)
    odd[::3, nominal] = 77.0
    odd[1::3, nominal] = -1.0
    odd[2::7, :] = np.nan
    odd[5::11, :3] = 1e9
    return odd


@pytest.mark.parametrize("name", ["price", "difficulty"])
def test_the_flat_walk_equals_the_boosters_predict_on_every_sale(fitted, encoded, name):
    model = fitted[name]
    forest = flat_forest(model)
    X = encoded[0]
    assert len(forest.roots) == model.n_iter_
    assert forest.categories, "the project's boosters split on nominal codes natively"
    np.testing.assert_array_equal(forest.predict(X), model.predict(X))
    np.testing.assert_array_equal(forest.predict(odd_rows(X)), model.predict(odd_rows(X)))
    # one house at a time, as the scoring server is asked
    for row in (0, 1, 2, 1000):
        assert forest.predict(X[row : row + 1])[0] == model.predict(X[row : row + 1])[0]


def test_a_booster_without_categorical_features_walks_the_same():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nansum(X[:, :3], axis=1) + rng.normal(size=500)
    model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(X, y)
    forest = flat_forest(model)
    assert forest.categories == ()
    np.testing.assert_array_equal(forest.predict(X), model.predict(X))


class Refuses:
    """A booster or forest stand-in that fails if it is asked to predict."""

    def __init__(self, n_features: int = 0):
        self.n_features_in_ = n_features

    def predict(self, X):
        raise AssertionError("asked to predict")


def test_few_rows_go_to_the_walk_and_the_rest_to_scikit_learn(fitted, encoded):
    model, X = fitted["price"], encoded[0]
    forest = flat_forest(model)
    few = X[:FLAT_MAX_ROWS]
    # a few rows never reach scikit-learn ...
    walked = predict_trees(Refuses(model.n_features_in_), forest, few)
    np.testing.assert_array_equal(walked, model.predict(few))
    # ... more rows never reach the walk
    many = X[: FLAT_MAX_ROWS + 1]
    np.testing.assert_array_equal(predict_trees(model, Refuses(), many), model.predict(many))


class CountsCalls:
    """A booster whose predict is counted."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def predict(self, X):
        self.calls.append(len(X))
        return self.model.predict(X)


@pytest.mark.parametrize("name", ["price", "difficulty"])
def test_many_rows_are_predicted_a_block_at_a_time_with_the_same_result(fitted, encoded, name):
    model = fitted[name]
    X = np.concatenate([encoded[0], odd_rows(encoded[0])] * 5)[: 2 * PREDICT_BLOCK_ROWS + 123]
    counted = CountsCalls(model)
    np.testing.assert_array_equal(predict_trees(counted, flat_forest(model), X), model.predict(X))
    assert counted.calls == [PREDICT_BLOCK_ROWS, PREDICT_BLOCK_ROWS, 123]
    counted.calls.clear()
    predict_trees(counted, None, X[:PREDICT_BLOCK_ROWS])
    assert counted.calls == [PREDICT_BLOCK_ROWS]


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(lambda X: X[:0], id="no-rows"),
        pytest.param(lambda X: X[:2, :-1], id="a-column-short"),
        pytest.param(lambda X: np.where(np.arange(X.shape[1]) == 0, np.inf, X[:2]), id="infinity"),
    ],
)
def test_input_the_walk_cannot_judge_goes_to_scikit_learn(fitted, encoded, rows):
    model, X = fitted["price"], encoded[0]
    with pytest.raises(AssertionError, match="asked to predict"):
        predict_trees(Refuses(model.n_features_in_), flat_forest(model), rows(X))


def test_a_pickled_valuation_model_holds_no_trees_and_rebuilds_them(raw_frame):
    """The flat trees are derived, not stored: a champion pickled here loads where
    `lib.ml.trees` differs or is absent, and one pickled without them gets them on load."""
    split = split_sales(raw_frame)
    estimator = build_boosted_model().fit(split.X_train, split.y_train)
    encoding = price_encoding(estimator)
    train = encoding.transform(split.X_train)
    residual = np.abs(np.log(split.y_train) - np.log(estimator.predict(split.X_train)))
    difficulty = difficulty_model().fit(train, residual)
    calibration = IntervalCalibration(difficulty, np.linspace(0.5, 2, 200), encoding, True)
    model = HousePriceModel(estimator, calibration, 0.9, encoding)
    assert model.trees is not None and model.difficulty_trees is not None
    assert not {"trees", "difficulty_trees"} & set(model.__getstate__())
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.trees is not None and loaded.difficulty_trees is not None
    houses = split.X_test.head(5)
    walked = loaded.ranges(houses)
    loaded.trees = loaded.difficulty_trees = None  # scikit-learn's own predict, as before
    pd.testing.assert_frame_equal(walked, loaded.ranges(houses), check_exact=True)


def test_only_squared_error_regressors_are_flattened():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="squared-error"):
        flat_forest(model)


@pytest.mark.parametrize("name", ["boosted", "linear"])
def test_a_price_models_estimate_is_its_own_predict_on_many_houses(raw_frame, name):
    """`price_estimate`, which the test ranges, the backtest and the batch prices go through,
    equals the fitted estimator's `predict` exactly, in blocks as in one piece."""
    split = split_sales(raw_frame)
    estimator = FAMILIES[name].build().fit(split.X_train, split.y_train)
    X = pd.concat([split.X_train, split.X_test] * 4)
    assert len(X) > PREDICT_BLOCK_ROWS
    trees = flat_forest(estimator.regressor_[-1]) if name == "boosted" else None
    estimate = price_estimate(estimator, encoded_features(estimator, X), trees)
    np.testing.assert_array_equal(estimate, estimator.predict(X))
