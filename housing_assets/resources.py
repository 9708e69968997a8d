"""Resources: the source of the data, the DuckDB warehouse and MLflow tracking.

The warehouse IO manager is written on Dagster's public `ConfigurableIOManager`. It is the
publish half of write-audit-publish: an asset audits its frame first (its blocking checks, see
`checks.audited_output`) and yields the output only when they pass, and the IO manager then
stages the table in `<schema>_staging` and swaps it into `<schema>` in one DuckDB transaction.
Readers (the UI, the API, the next run) see the previous table or the new one, never a half
written or an unaudited one; a run killed while a table is staged leaves only the staging copy,
which the next write replaces.
"""

import dagster as dg
import mlflow
import pandas as pd
from dagster_duckdb import DuckDBResource
from dagster_mlflow.resources import CONFIG_SCHEMA as MLFLOW_CONFIG_SCHEMA
from dagster_mlflow.resources import MlFlow
from mlflow.tracking import MlflowClient
from pydantic import Field

from housing_assets import settings
from housing_assets.lib.ingest import (
    DOWNLOAD_DEADLINE_SECONDS,
    MAX_SOURCE_BYTES,
    RawSource,
    load_source,
)
from housing_assets.lib.warehouse import publish_tables, read_columns
from housing_assets.metadata import column_schema


class HousingSource(dg.ConfigurableResource):
    """Where the Ames sales come from: a local CSV path or an http(s) URL."""

    location: str = Field(
        default=settings.source_location(),
        description="Path or http(s) URL of an AmesHousing.csv-shaped file.",
    )
    deadline_seconds: float = Field(
        default=DOWNLOAD_DEADLINE_SECONDS,
        gt=0,
        description="Total time allowed to download a URL source, however slowly it arrives.",
    )
    max_bytes: int = Field(
        default=MAX_SOURCE_BYTES,
        gt=0,
        description="Largest source accepted, in bytes (a larger file or body is refused).",
    )

    def load(self) -> RawSource:
        return load_source(self.location, self.deadline_seconds, self.max_bytes)


WAREHOUSE_SCHEMA = "housing"


class WarehouseIOManager(dg.ConfigurableIOManager):
    """DuckDB warehouse file; every table asset is `<warehouse_schema>.<asset name>`."""

    database: str = Field(description="Path of the DuckDB file.")
    warehouse_schema: str = Field(
        default=WAREHOUSE_SCHEMA, description="Schema of the published tables."
    )

    def _connection(self):
        # DuckDBResource retries while another process holds the file's write lock.
        return DuckDBResource(database=self.database).get_connection()

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        with self._connection() as connection:
            publish_tables(connection, self.warehouse_schema, {table: obj})
        context.add_output_metadata(
            {
                "dagster/row_count": len(obj),
                "dagster/column_schema": column_schema(obj),
                "dagster/table_name": f"{self.warehouse_schema}.{table}",
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = context.asset_key.path[-1]
        # An input may ask for some columns only (`AssetIn(metadata={"columns": [...]})`).
        columns = (context.definition_metadata or {}).get("columns")
        with self._connection() as connection:
            return read_columns(connection, self.warehouse_schema, table, columns)


def warehouse_io_manager() -> WarehouseIOManager:
    settings.state_dir().mkdir(parents=True, exist_ok=True)
    return WarehouseIOManager(database=str(settings.warehouse_path()))


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

    @property
    def tracking_uri(self) -> str:
        return self._init_context.resource_config["mlflow_tracking_uri"]

    @property
    def experiment_name(self) -> str:
        return self._init_context.resource_config["experiment_name"]

    def client(self) -> MlflowClient:
        """A client bound to this resource's tracking store and registry."""
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

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
def housing_mlflow(init_context: dg.InitResourceContext):
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
