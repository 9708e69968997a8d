"""The data a model run was trained and tested on, as MLflow datasets (`mlflow.log_input`).

MLflow's UI shows a run's datasets (name, digest, source, schema, rows) in its Datasets
column and on the run's page, and the same data logged by two runs is one dataset. A model run
logs its training and test split: the features it read, from the warehouse's `raw_housing`
table, with the raw file's SHA-256 as the digest, so two runs on the same file name the same
datasets and a run on a changed file names new ones.
"""

from functools import cached_property
from typing import Any

import duckdb
import mlflow
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.types import ColSpec, DataType, Schema

# MLflow's store keeps a dataset digest in 36 characters; the source keeps the whole hash.
DIGEST_LENGTH = 36


class WarehouseTableSource(DatasetSource):
    """A table of the DuckDB warehouse, and the SHA-256 of the source file it was read from."""

    def __init__(self, warehouse: str, table: str, source_sha256: str | None = None):
        self.warehouse = warehouse
        self.table = table
        self.source_sha256 = source_sha256

    @staticmethod
    def _get_source_type() -> str:
        return "duckdb_table"

    def load(self) -> pd.DataFrame:
        """The table as it is now (a later run may have replaced it)."""
        with duckdb.connect(self.warehouse, read_only=True) as connection:
            return connection.execute(f"select * from {self.table}").fetchdf()

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> "WarehouseTableSource":
        raise NotImplementedError("a warehouse table source is made, not resolved")

    def to_dict(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse,
            "table": self.table,
            "source_sha256": self.source_sha256,
        }

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> "WarehouseTableSource":
        return cls(source_dict["warehouse"], source_dict["table"], source_dict.get("source_sha256"))


# So that `mlflow.data.get_source(...)` rebuilds the source of a logged dataset.
register_dataset_source(WarehouseTableSource)

DTYPE_KINDS = {"f": DataType.double, "i": DataType.long, "u": DataType.long, "b": DataType.boolean}


def dtype_schema(frame: pd.DataFrame) -> Schema:
    """The frame's columns as an MLflow schema, read off its dtypes (text for object columns);
    a column with a gap is optional."""
    return Schema(
        [
            ColSpec(
                DTYPE_KINDS.get(frame[c].dtype.kind, DataType.string), c, not frame[c].isna().any()
            )
            for c in frame.columns
        ]
    )


class SplitDataset(PandasDataset):
    """A PandasDataset whose schema comes from the dtypes: MLflow's own inference reads every
    value of each text column, so its cost grows with the rows."""

    @cached_property
    def schema(self) -> Schema:
        return dtype_schema(self.df)


def log_split_inputs(
    X_train: pd.DataFrame, X_test: pd.DataFrame, source: WarehouseTableSource
) -> list[SplitDataset]:
    """Log the training and test features as the active run's inputs (contexts `training`,
    `testing`); returns the datasets."""
    digest = source.source_sha256[:DIGEST_LENGTH] if source.source_sha256 else None
    datasets = []
    for context, frame in (("training", X_train), ("testing", X_test)):
        dataset = SplitDataset(
            frame, source=source, name=f"{source.table} {context} split", digest=digest
        )
        mlflow.log_input(dataset, context=context)
        datasets.append(dataset)
    return datasets
