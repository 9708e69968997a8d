"""Reasons for an estimate (`lib.ml.reasons`): the tree SHAP values against a brute-force
Shapley sum on a real booster, the table on hand-made contributions, then both registered
families and the price_reasons asset on the session's state."""

import itertools
import math

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from housing_assets import settings
from housing_assets.lib.data import quality
from housing_assets.lib.data.features import FEATURES
from housing_assets.lib.ml.families import booster, booster_preprocess
from housing_assets.lib.ml.reasons import (
    BASE_VALUE,
    OTHER_FEATURES,
    Contributions,
    encoded_owners,
    logarithmic_mean,
    reason_table,
    tree_contributions,
    tree_reasons,
)
from housing_assets.lib.ml.split import split_sales
from housing_assets.lib.ml.trees import flat_forest


def brute_force_shap(forest, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Path-dependent Shapley values of one remapped row by the definition: for every tree,
    every subset S of the features it splits on, the tree's value with the features outside S
    integrated out by the training counts (Lundberg et al., 2018, algorithm 1)."""
    decisions = forest.goes_left(x[None, :], np.arange(len(forest.feature))[None, :])[0]
    phi = np.zeros(len(x))
    base = forest.baseline
    ends = [*forest.roots[1:], len(forest.feature)]
    for root, end in zip(forest.roots, ends, strict=True):
        nodes = range(int(root), int(end))
        used = sorted({int(forest.feature[n]) for n in nodes if not forest.is_leaf[n]})

        def value(node: int, known: frozenset) -> float:
            if forest.is_leaf[node]:
                return float(forest.value[node])
            left, right = int(forest.left[node]), int(forest.right[node])
            if int(forest.feature[node]) in known:
                return value(left if decisions[node] else right, known)
            return (
                forest.count[left] * value(left, known) + forest.count[right] * value(right, known)
            ) / forest.count[node]

        base += value(int(root), frozenset())
        d = len(used)
        for i in used:
            others = [f for f in used if f != i]
            for size in range(d):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                for subset in itertools.combinations(others, size):
                    known = frozenset(subset)
                    gain = value(int(root), known | {i}) - value(int(root), known)
                    phi[i] += weight * gain
    return base, phi


@pytest.mark.parametrize(("trees", "leaves", "houses"), [(25, 6, 6), (4, 10, 3)])
def test_tree_shap_equals_the_brute_force_shapley_values_of_a_real_booster(
    raw_frame, trees, leaves, houses
):
    """Small boosters (native categorical splits, missing values) on 600 training houses: the
    grouped polynomial algorithm gives the definition's values, with paths of up to 9
    distinct features."""
    split = split_sales(raw_frame)
    X, y = split.X_train.head(600), np.log(split.y_train.head(600))
    encode = booster_preprocess().fit(X)
    model = booster(max_iter=trees).set_params(max_leaf_nodes=leaves)
    model.fit(encode.transform(X), y)
    forest = flat_forest(model)
    owners = np.arange(model.n_features_in_)
    names = tuple(f"c{j}" for j in owners)
    reasons = tree_reasons(forest, owners, names)
    houses = encode.transform(split.X_test.head(houses))
    got = tree_contributions(reasons, forest, houses)
    remapped = forest.remapped(houses)
    column_of = forest.columns()
    for h in range(len(houses)):
        base, phi = brute_force_shap(forest, remapped[h])
        expected = np.zeros(len(owners))
        np.add.at(expected, column_of, phi)
        assert got.base == pytest.approx(base, abs=1e-12)
        np.testing.assert_allclose(got.values[h], expected, atol=1e-12)
    # and the base plus the contributions are the booster's own prediction
    np.testing.assert_allclose(got.base + got.values.sum(axis=1), model.predict(houses), atol=1e-12)


def test_each_encoded_column_belongs_to_one_feature():
    names = ("Gr Liv Area", "Garage Area", "Neighborhood", "Total SF", "Qual x Total SF")

    class Named:
        def get_feature_names_out(self):
            return np.array(
                ["skewed__Gr Liv Area_sp_0", "skewed__Qual x Total SF_sp_4", "skewed__Total SF",
                 "numeric__Garage Area", "nominal__Neighborhood_NAmes"]
            )  # fmt: skip

    assert encoded_owners(Named(), names).tolist() == [0, 4, 3, 1, 2]


def test_the_table_shows_ten_reasons_then_the_rest_and_adds_up_in_dollars():
    values = np.array([[0.05 * (k - 6) for k in range(12)]])  # 12 features, -0.30..+0.25
    features = tuple(f"f{k}" for k in range(12))
    base = math.log(200_000.0)
    estimate = np.exp(base + values.sum(axis=1))
    X = pd.DataFrame([[float(k) for k in range(12)]], columns=list(features)).assign(f3="Gd")
    X.loc[0, "f4"] = np.nan
    table = reason_table(Contributions(base, values, features), estimate, X, np.array([7]))
    assert table["rank"].tolist() == list(range(12))
    assert table.loc[0, "feature"] == BASE_VALUE
    assert table.loc[0, "dollars"] == pytest.approx(200_000.0, rel=1e-12)
    # by size, ties in feature order: -0.30 (f0), -0.25 (f1), +0.25 (f11), -0.20 (f2), ...
    assert table["feature"].tolist()[1:5] == ["f0", "f1", "f11", "f2"]
    shown = set(table["feature"].iloc[1:11])
    rest = [f for f in features if f not in shown]
    assert rest == ["f6", "f7"] and table.loc[11, "feature"] == OTHER_FEATURES
    assert table.loc[11, "value"] == "2 features"
    assert table.loc[11, "contribution"] == pytest.approx(0.0 + 0.05, abs=1e-15)
    assert table.set_index("feature").loc["f3", "value"] == "Gd"
    assert table.set_index("feature").loc["f4", "value"] == "missing"
    assert table.set_index("feature").loc["f8", "value"] == "8"
    assert table["contribution"].sum() == pytest.approx(math.log(estimate[0]), abs=1e-12)
    assert table["dollars"].sum() == pytest.approx(estimate[0], rel=1e-12)
    assert logarithmic_mean(np.array([math.e]), np.array([1.0]))[0] == pytest.approx(math.e - 1)
    assert logarithmic_mean(np.array([5.0]), np.array([5.0]))[0] == 5.0


def test_reasons_that_do_not_add_up_to_the_estimate_are_caught():
    frame = pd.DataFrame(
        {
            "PID": [1, 1, 2, 2, 3],
            "rank": [0, 1, 0, 1, 0],
            "contribution": [12.0, 0.5, 12.0, 0.1, 11.0],
            "estimate": [math.exp(12.5)] * 2 + [math.exp(12.1 + 1e-5)] * 2 + [np.nan],
        }
    )
    outcome = quality.reasons_add_up(frame)
    assert not outcome.passed and outcome.observed == 2  # house 2 is 1e-5 off, house 3 unpriced
    assert "PIDs off: [2, 3]" in outcome.detail
    assert quality.reasons_add_up(frame.iloc[:2]).passed
    assert quality.unique_pid_ranks(frame).passed
    repeated = pd.concat([frame, frame.iloc[[1]]])
    assert quality.unique_pid_ranks(repeated).observed == 1
    assert quality.unique_pid_ranks(frame[frame["rank"] > 0]).observed == 2


# -- the registered models and the asset on the session's state ------------------------------


def registered(version) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}/{version}")


def test_both_families_contributions_add_up_to_their_log_estimates(pipeline_run, raw_frame):
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri())
    split = split_sales(raw_frame)
    families = set()
    for version in client.search_model_versions(f"name='{settings.REGISTERED_MODEL}'"):
        valuation = registered(version.version).unwrap_python_model()
        contributions = valuation.contributions(split.X_test)
        estimate = valuation.ranges(split.X_test)["estimate"].to_numpy()
        total = contributions.base + contributions.values.sum(axis=1)
        np.testing.assert_allclose(total, np.log(estimate), atol=1e-6, rtol=0)
        assert contributions.features == FEATURES
        # the base is about the mean log price of the training houses
        assert abs(contributions.base - np.log(split.y_train).mean()) < 0.05
        families.add(version.tags["model_family"])
    assert families == {"linear", "boosted"}


def test_price_reasons_explain_each_price_estimate(pipeline_run, raw_frame):
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        reasons = connection.execute("select * from housing.price_reasons").fetchdf()
        estimates = connection.execute("select * from housing.price_estimates").fetchdf()
    assert list(reasons.columns) == ["PID", "rank", "feature", "value", "contribution", "dollars"]
    assert reasons["PID"].nunique() == len(estimates) == 879
    assert (reasons.groupby("PID").size() == 12).all()  # base, 10 reasons, all others
    totals = reasons.groupby("PID").agg(log=("contribution", "sum"), dollars=("dollars", "sum"))
    priced = estimates.set_index("PID")["estimate"].loc[totals.index]
    np.testing.assert_allclose(totals["log"], np.log(priced), atol=1e-6, rtol=0)
    np.testing.assert_allclose(totals["dollars"], priced, rtol=1e-9)
    # the pyfunc's explain output for three houses is the table's rows
    model = registered(int(estimates["model_version"].iloc[0]))
    pids = estimates["PID"].head(3).tolist()
    houses = raw_frame.set_index("PID").loc[pids].reset_index()
    answer = model.predict(houses, params={"explain": True})
    for pid, (_, row) in zip(pids, answer.iterrows(), strict=True):
        mine = reasons[(reasons["PID"] == pid) & (reasons["rank"] > 0)]
        assert [r["feature"] for r in row["reasons"]] == mine["feature"].tolist()
        np.testing.assert_allclose(
            [r["contribution"] for r in row["reasons"]], mine["contribution"], atol=1e-12
        )
        base = reasons[(reasons["PID"] == pid) & (reasons["rank"] == 0)]["contribution"].iloc[0]
        assert row["base_value"] == pytest.approx(base, abs=1e-12)
    plain = model.predict(houses)
    assert list(plain.columns) == ["estimate", "low", "high"]
