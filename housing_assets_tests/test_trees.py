"""The flat-array walk of a fitted booster (`lib.ml.trees`) against scikit-learn's predict.

It reads scikit-learn's private fitted attributes (`_predictors`, `_bin_mapper`,
`_preprocessor`, `_baseline_prediction`), so these tests are what fails if a scikit-learn
release moves them: the predictions must be equal, not close.
"""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from housing_assets.lib.data.features import house_features
from housing_assets.lib.ml.families import booster, booster_preprocess
from housing_assets.lib.ml.ranges import difficulty_model
from housing_assets.lib.ml.split import split_sales
from housing_assets.lib.ml.trees import FLAT_MAX_ROWS, flat_forest, predict_trees


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


def test_large_batches_go_to_scikit_learn_and_small_ones_to_the_walk(fitted, encoded):
    model, X = fitted["price"], encoded[0]

    class Refuses:
        def predict(self, X):
            raise AssertionError("the walk was used for a large batch")

    assert predict_trees(model, Refuses(), X[: FLAT_MAX_ROWS + 1]).shape == (FLAT_MAX_ROWS + 1,)
    few = X[:FLAT_MAX_ROWS]
    np.testing.assert_array_equal(predict_trees(model, flat_forest(model), few), model.predict(few))


def test_only_squared_error_regressors_are_flattened():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="squared-error"):
        flat_forest(model)
