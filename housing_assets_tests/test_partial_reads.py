"""Steps that need a few rows or the gaps of a large table read only those from the warehouse.

The EDA reads the raw table's gaps (counted by DuckDB) and the raw rows of its importance
sample; the valuation steps read the raw rows of the houses they price. Each must give exactly
what the whole table would have given.
"""

import shutil

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

from housing_assets import settings
from housing_assets.assets import valuation
from housing_assets.assets.ingestion import (
    raw_sales,
    split_test_houses,
    split_test_pids,
    training_sales,
)
from housing_assets.lib.analysis import eda
from housing_assets.lib.data.cleaning import sales, sales_in_order
from housing_assets.lib.data.features import house_features
from housing_assets.lib.data.frames import fixed_sample
from housing_assets.lib.ml import workflow
from housing_assets.lib.ml.split import pids_by_split, split_index, split_sales
from housing_assets.lib.ml.workflow import known_sales
from housing_assets.resources import SubjectsSource, Warehouse


def hand_made_warehouse(tmp_path) -> Warehouse:
    store = Warehouse(database=str(tmp_path / "w.duckdb"))
    store.publish(
        {
            "houses": pd.DataFrame(
                {
                    "PID": [30, 10, 20, 10, 40],
                    "Lot Frontage": [60.0, np.nan, 80.0, np.nan, np.nan],
                    "Alley": ["Pave", None, None, "Grvl", None],
                    "SalePrice": [100, 200, 300, 400, 500],
                }
            )
        }
    )
    return store


def test_read_rows_gives_the_rows_holding_the_values_in_the_tables_order(tmp_path):
    store = hand_made_warehouse(tmp_path)
    rows = store.read_rows("houses", "PID", [40, 10, 99, 10])
    assert rows["PID"].tolist() == [10, 10, 40]
    assert rows["SalePrice"].tolist() == [200, 400, 500]
    assert rows["Alley"].tolist() == [None, "Grvl", None]
    assert list(rows.columns) == ["PID", "Lot Frontage", "Alley", "SalePrice"]
    assert store.read_rows("houses", "PID", []).empty


def test_missing_counts_are_the_published_frames_gaps(tmp_path):
    store = hand_made_warehouse(tmp_path)
    counts, rows = store.missing_counts("houses")
    assert rows == 5
    assert counts.to_dict() == {"PID": 0, "Lot Frontage": 3, "Alley": 3, "SalePrice": 0}


def test_a_partial_read_of_a_missing_table_names_it(tmp_path):
    store = hand_made_warehouse(tmp_path)
    for read in (lambda: store.read_rows("nothing", "PID", [1]),
                 lambda: store.missing_counts("nothing")):  # fmt: skip
        with pytest.raises(LookupError, match='no table "housing"."nothing"'):
            read()


def test_sales_in_order_keeps_the_first_sale_of_each_pid_in_the_pids_order():
    raw = pd.DataFrame({"PID": [30, 10, 20, 10], "SalePrice": [100, 200, 300, 400]})
    houses = sales_in_order(raw, [20, 10])
    assert houses["PID"].tolist() == [20, 10]
    assert houses["SalePrice"].tolist() == [300, 200]
    assert houses.index.tolist() == [0, 1]
    with pytest.raises(LookupError, match=r"no sale with PID \[99\]"):
        sales_in_order(raw, [10, 99])


def test_the_split_of_the_pid_column_is_the_split_of_the_sales(raw_frame):
    """A duplicated PID (a second, later sale of a parcel) is dropped by both, as `sales` does."""
    raw = pd.concat([raw_frame, raw_frame.head(5).assign(SalePrice=1)], ignore_index=True)
    split = split_sales(raw)
    train, test = pids_by_split(raw["PID"])
    assert train.tolist() == split.pid.loc[split.X_train.index].tolist()
    assert test.tolist() == split.pid.loc[split.X_test.index].tolist()
    assert len(test) == 879 and len(train) == 2051


@pytest.fixture
def users_copy(pipeline_run, tmp_path) -> Warehouse:
    """A copy of the golden state's users' warehouse: the tests read it and change nothing
    the other tests of the worker read."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(settings.warehouse_path(), copy)
    return Warehouse(database=str(copy))


def test_the_test_split_houses_read_alone_are_those_of_the_whole_raw_table(users_copy):
    store = users_copy
    everything = store.read("raw_housing")
    rows = sales(everything)
    expected = rows.loc[split_index(rows)[1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(split_test_houses(store), expected)
    assert split_test_pids(store).tolist() == expected["PID"].tolist()
    some = expected["PID"].iloc[[5, 0, 700]]
    pd.testing.assert_frame_equal(
        raw_sales(store, some), expected.iloc[[5, 0, 700]].reset_index(drop=True)
    )


def test_the_raw_gaps_counted_by_the_warehouse_are_the_frames(pipeline_run, raw_frame):
    counts, rows = Warehouse(database=str(settings.warehouse_path())).missing_counts("raw_housing")
    assert rows == len(raw_frame) == 2930
    pd.testing.assert_series_equal(counts, raw_frame.isna().sum(), check_names=False)
    assert counts["Lot Frontage"] == 490


def test_the_importance_rows_are_the_sample_the_whole_features_gave(raw_frame, monkeypatch):
    """Below the cap the importance sees every training sale with a price; above it, the same
    fixed sample as when the features of every sale were made; and the features made from the
    sampled rows alone give the same importance."""
    rows = sales(raw_frame)
    price = rows["SalePrice"].astype(float).mask(rows.index % 7 == 0)  # some sales unpriced
    train, _ = split_index(rows)
    everything = house_features(rows)
    sold = train[price.loc[train].notna().to_numpy()]
    assert eda.importance_rows(price, train).equals(sold)
    monkeypatch.setattr(eda, "IMPORTANCE_MAX_ROWS", 300)
    chosen = eda.importance_rows(price, train)
    assert len(chosen) == 300
    assert chosen.equals(fixed_sample(everything.loc[sold], 300).index)
    alone = house_features(sales_in_order(raw_frame, rows.loc[chosen, "PID"])).set_axis(chosen)
    pd.testing.assert_frame_equal(alone, everything.loc[chosen])
    whole, _ = eda.feature_importance(everything, price, train)
    sampled, _ = eda.feature_importance(alone, price, train)
    pd.testing.assert_frame_equal(whole.table, sampled.table)
    assert whole.training_rows == sampled.training_rows == 300


def test_the_training_sales_read_alone_are_the_splits_training_side(users_copy, monkeypatch):
    """What a champion registered before reasons or comparables gets them from: the training
    split read alone gives the features, prices, PIDs and comparables pool of the whole
    table's split."""
    store = users_copy
    split = split_sales(store.read("raw_housing"))
    training = training_sales(store)
    expected = split.training
    pd.testing.assert_frame_equal(training.X, expected.X.reset_index(drop=True))
    pd.testing.assert_series_equal(training.y, expected.y.reset_index(drop=True))
    assert training.pid.tolist() == expected.pid.tolist()
    for cap in (workflow.POOL_MAX_ROWS, 300):  # every sale; a fixed sample
        monkeypatch.setattr(workflow, "POOL_MAX_ROWS", cap)
        alone, whole = known_sales(training), known_sales(expected)
        assert len(alone.pid) == min(cap, len(training.X))
        assert alone.pid.tolist() == whole.pid.tolist()
        assert np.array_equal(alone.price, whole.price)
        assert np.array_equal(alone.coordinates, whole.coordinates)


def test_the_explained_sample_above_the_cap_is_the_sample_of_the_whole_test_split(
    users_copy, monkeypatch
):
    """Above EXPLAINED_MAX_ROWS the explained houses are the fixed sample the whole test
    split's frame gave, read alone."""
    store = users_copy
    monkeypatch.setattr(valuation, "EXPLAINED_MAX_ROWS", 300)
    houses = split_test_houses(store)
    priced = houses["PID"].iloc[::2]  # the houses price_estimates holds
    expected = fixed_sample(houses[houses["PID"].isin(priced)], 300).reset_index(drop=True)
    explained, origin = valuation.subject_houses(SubjectsSource(location=None), store, priced)
    assert origin == "the test split of the sales"
    assert len(explained) == 300
    pd.testing.assert_frame_equal(explained, expected)
    given, _ = valuation.subject_houses(
        SubjectsSource(location=None), store, priced, test_pids=split_test_pids(store)
    )
    pd.testing.assert_frame_equal(given, expected)


def test_a_champion_stored_without_reasons_or_known_sales_gets_the_same_from_the_training_split(
    users_copy, raw_frame
):
    """A version registered before reasons and comparables were stored with it gets them
    from this run's training split, read alone: on unchanged sales, the same as stored."""
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri())
    versions = client.search_model_versions(f"name = '{settings.REGISTERED_MODEL}'")
    linear = max(
        (v for v in versions if v.tags.get("model_family") == "linear"),
        key=lambda v: int(v.version),
    )
    model = valuation.load_registered(client, settings.REGISTERED_MODEL, linear.version)
    model = model.unwrap_python_model()
    subjects = sales(raw_frame).head(40).reset_index(drop=True)
    X = model.features(subjects)
    estimate = model.ranges(X)["estimate"].to_numpy()
    stored_reasons = model.linear_reasons
    contributions = model.contributions(X)
    stored = model.comparables_from(model.pool, X, subjects["PID"], estimate, contributions)
    model.linear_reasons, model.pool = None, None
    context = dg.build_asset_context()
    valuation.explainable(context, model, users_copy)
    assert model.linear_reasons is not None
    again = model.contributions(X)
    assert stored_reasons is not None
    assert again.features == contributions.features
    assert again.base == pytest.approx(contributions.base, abs=1e-12)
    np.testing.assert_allclose(again.values, contributions.values, rtol=1e-10, atol=1e-12)
    fallback = valuation.comparable_sales(
        context, client, linear.version, model, users_copy, X, subjects, estimate, contributions
    )
    pd.testing.assert_frame_equal(fallback, stored)
