"""A model run's datasets: the warehouse table they came from, and the file's SHA-256."""

import duckdb
import mlflow
import pandas as pd

from housing_assets.lib.registry.datasets import WarehouseTableSource, log_split_inputs
from housing_assets_tests.harness.mlflow_store import empty_store


def test_a_logged_split_names_its_table_and_digest(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    frame = pd.DataFrame({"PID": [1, 2, 3], "Gr Liv Area": [1000.0, 1500.0, None]})
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema housing")
        connection.execute("create table housing.raw_housing as select * from frame")
    sha256 = "ab" * 32
    source = WarehouseTableSource(str(warehouse), "housing.raw_housing", sha256)
    assert WarehouseTableSource.from_dict(source.to_dict()).to_dict() == source.to_dict()
    pd.testing.assert_frame_equal(source.load(), frame)

    mlflow.set_tracking_uri(empty_store(tmp_path))
    experiment = mlflow.create_experiment("datasets")
    with mlflow.start_run(experiment_id=experiment) as run:
        log_split_inputs(frame.head(2), frame.tail(1), source)
    logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_context = {i.tags[0].value: i.dataset for i in logged}
    assert set(by_context) == {"training", "testing"}
    assert {d.digest for d in by_context.values()} == {sha256[:36]}
    assert by_context["training"].name == "housing.raw_housing training split"
    assert '"source_sha256": "' + sha256 in by_context["testing"].source
    # MLflow rebuilds the source from the run, and it loads the table
    rebuilt = mlflow.data.get_source(by_context["training"])
    assert isinstance(rebuilt, WarehouseTableSource) and rebuilt.to_dict() == source.to_dict()
    pd.testing.assert_frame_equal(rebuilt.load(), frame)


def test_the_dtype_schema_is_mlflows_own_on_the_real_split(raw_frame):
    """Read off the dtypes, the schema is what MLflow infers value by value."""
    from housing_assets.lib.ml.split import split_sales
    from housing_assets.lib.registry.datasets import dtype_schema

    split = split_sales(raw_frame)
    for X in (split.X_train, split.X_test):
        assert dtype_schema(X) == mlflow.data.from_pandas(X).schema
    required = {c.name: c.required for c in dtype_schema(split.X_train).inputs}
    assert (
        not required["Lot Frontage"] and required["Gr Liv Area"]
    )  # a column with gaps is optional
