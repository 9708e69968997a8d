"""A model run's datasets: the warehouse table they came from, and the file's SHA-256."""

import duckdb
import mlflow
import pandas as pd

from housing_assets.lib.registry.datasets import WarehouseTableSource, log_split_inputs


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

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        log_split_inputs(frame.head(2), frame.tail(1), source)
    logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_context = {i.tags[0].value: i.dataset for i in logged}
    assert set(by_context) == {"training", "testing"}
    assert {d.digest for d in by_context.values()} == {sha256[:36]}
    assert by_context["training"].name == "housing.raw_housing training split"
    assert '"source_sha256": "' + sha256 in by_context["testing"].source
