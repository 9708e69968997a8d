"""Resources: the source of the data, the DuckDB warehouse and MLflow tracking.

The warehouse IO manager is dagster-duckdb-pandas' with one change: an unpartitioned table is
written with a single `CREATE OR REPLACE TABLE ... AS SELECT`, which DuckDB runs as one
transaction. The stock handler deletes the rows and then inserts the new ones, so a run killed
between the two leaves an empty table, and a new column (a new one-hot level) breaks the
insert. Readers now see the old table or the new one, never half of one.
"""

from collections.abc import Iterator

import dagster as dg
import mlflow
import pandas as pd
from dagster._core.storage.db_io_manager import DbIOManager, TableSlice
from dagster_duckdb import DuckDBResource
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler
from dagster_mlflow.resources import CONFIG_SCHEMA as MLFLOW_CONFIG_SCHEMA
from dagster_mlflow.resources import MlFlow
from pydantic import Field

from housing_assets import settings
from housing_assets.lib.ingest import RawSource, load_source
from housing_assets.lib.warehouse import quoted, read_frame
from housing_assets.metadata import column_schema


class HousingSource(dg.ConfigurableResource):
    """Where the Ames sales come from: a local CSV path or an http(s) URL."""

    location: str = Field(
        default=settings.source_location(),
        description="Path or http(s) URL of an AmesHousing.csv-shaped file.",
    )

    def load(self) -> RawSource:
        return load_source(self.location)


class _ReplacingDuckDbClient(DuckDbClient):
    @staticmethod
    def delete_table_slice(context: dg.OutputContext, table_slice: TableSlice, connection) -> None:
        # Unpartitioned tables are replaced whole by the type handler, in one statement.
        if table_slice.partition_dimensions:
            DuckDbClient.delete_table_slice(context, table_slice, connection)


class _ReplacingPandasTypeHandler(DuckDBPandasTypeHandler):
    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection
    ):
        if table_slice.partition_dimensions:
            return super().handle_output(context, table_slice, obj, connection)
        table = f"{table_slice.schema}.{table_slice.table}"
        connection.execute(f"create or replace table {table} as select * from obj")
        context.add_output_metadata(
            {"dagster/row_count": len(obj), "dagster/column_schema": column_schema(obj)}
        )

    def load_input(self, context: dg.InputContext, table_slice: TableSlice, connection):
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        # An input's `columns` metadata is pasted into the SELECT as it is: quote the names, as
        # Ames has "Year Remod/Add", "1st Flr SF" and other names that are not bare identifiers.
        if table_slice.columns:
            table_slice = table_slice._replace(columns=[quoted(c) for c in table_slice.columns])
        return read_frame(connection, DuckDbClient.get_select_statement(table_slice))


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB warehouse file; every asset is a table `<schema>.<asset name>`."""

    @staticmethod
    def type_handlers():
        return [_ReplacingPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=_ReplacingDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=pd.DataFrame,
            io_manager_name="WarehouseIOManager",
        )


WAREHOUSE_SCHEMA = "housing"


def warehouse_io_manager() -> WarehouseIOManager:
    settings.state_dir().mkdir(parents=True, exist_ok=True)
    return WarehouseIOManager(database=str(settings.warehouse_path()), schema=WAREHOUSE_SCHEMA)


def warehouse_resource() -> DuckDBResource:
    """The same DuckDB file, for assets that write supporting tables themselves (EDA)."""
    settings.state_dir().mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(settings.warehouse_path()))


class LazyMlFlow:
    """dagster-mlflow's `MlFlow`, created on first use rather than at resource init.

    The in-process executor initialises every resource of the run before the first step, so
    an unreachable tracking store would otherwise fail `raw_housing` too. Created lazily, only
    the model steps meet it, with a message that names the URI, and the data tables still
    refresh. Everything else is dagster-mlflow's: one MLflow run per Dagster run, tagged
    `dagster_run_id`, ended by its `end_mlflow_on_run_finished` hook.
    """

    def __init__(self, init_context: dg.InitResourceContext):
        self._init_context = init_context
        self._tracking: MlFlow | None = None
        self._run_id: str | None = None

    def _get(self) -> MlFlow:
        if self._tracking is None:
            from housing_assets.lib.tracking import ensure_experiment

            config = self._init_context.resource_config
            ensure_experiment(config["mlflow_tracking_uri"], config["experiment_name"])
            self._tracking = MlFlow(self._init_context)
            self._run_id = mlflow.active_run().info.run_id  # the Dagster run's MLflow run
        return self._tracking

    def end_run(self, *args, **kwargs):
        # Called by the hook after the last step; nothing to end if no step tracked anything.
        return None if self._tracking is None else self._tracking.end_run(*args, **kwargs)

    def end_if_open(self) -> None:
        """End this Dagster run's MLflow run if no hook did (e.g. a UI or CLI asset run)."""
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self._run_id:
            mlflow.end_run()

    def __getattr__(self, name: str):
        return getattr(self._get(), name)


@dg.resource(
    config_schema=MLFLOW_CONFIG_SCHEMA,
    description="dagster-mlflow's mlflow_tracking, connected on first use with a bounded retry.",
)
def housing_mlflow(init_context: dg.InitResourceContext) -> Iterator[LazyMlFlow]:
    tracking = LazyMlFlow(init_context)
    try:
        yield tracking
    finally:
        # The hook ends the run only on jobs that carry it; asset runs launched from the UI or
        # `dagster asset materialize` use Dagster's implicit job, which has none.
        tracking.end_if_open()


def mlflow_resource() -> dg.ResourceDefinition:
    return housing_mlflow.configured(
        {
            "experiment_name": settings.MLFLOW_EXPERIMENT,
            "mlflow_tracking_uri": settings.mlflow_tracking_uri(),
        }
    )
