"""Resources: the source of the data, the DuckDB warehouse and MLflow tracking.

The warehouse IO manager is written on Dagster's public `ConfigurableIOManager`. It is the
publish half of write-audit-publish: an asset audits its frame first (its blocking checks, see
`checks.audited_output`) and yields the output only when they pass, and the IO manager then
stages the table beside the published one (`<name> (staged)`) and swaps it in by a rename in
one DuckDB transaction. Readers (the UI, the API, the next run) see the previous table or the
new one, never a half written or an unaudited one; a run killed while a table is staged leaves
only the staged copy, which the next write replaces and the users' copy never holds.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import dagster as dg
import mlflow
import pandas as pd
from dagster_duckdb import DuckDBResource
from dagster_mlflow.resources import MlFlow
from mlflow import ActiveRun
from mlflow.tracking import MlflowClient
from pydantic import Field, PrivateAttr

from housing_assets import settings
from housing_assets.lib.data.ingest import (
    DOWNLOAD_DEADLINE_SECONDS,
    MAX_SOURCE_BYTES,
    RawSource,
    load_source,
)
from housing_assets.lib.data.warehouse import (
    adopt_replica,
    missing_counts,
    publish_replica,
    publish_tables,
    read_columns,
    read_rows,
    read_table,
    replica_is_stale,
    require_free_space,
    table_exists,
)
from housing_assets.lib.ml.fitting import FIT_JOBS, start_workers
from housing_assets.metadata import column_schema


class _SourceFile(dg.ConfigurableResource):
    """A file in the source's format, read with a download deadline and a size cap."""

    location: str | None
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


class HousingSource(_SourceFile):
    """Where the Ames sales come from: a local CSV path or an http(s) URL."""

    location: str = Field(
        default=settings.source_location(),
        description="Path or http(s) URL of an AmesHousing.csv-shaped file.",
    )


class SubjectsSource(_SourceFile):
    """The houses `price_estimates` prices: a path or URL in the source's format, or none for
    the test split's houses (estimates beside actual sale prices)."""

    location: str | None = Field(
        default=settings.subjects_location(),
        description="Path or http(s) URL of an AmesHousing.csv-shaped file of houses to price; "
        "empty: the houses of the test split.",
    )

    def load(self) -> RawSource:
        # Houses to value need no sale price (a Kaggle test.csv has none).
        return load_source(self.location, self.deadline_seconds, self.max_bytes, priced=False)


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse: its files, its schema and the one publish path.

    Every write goes through `publish` (stage, then swap in one transaction), whether the IO
    manager publishes an asset's output or the EDA publishes its tables together; every read
    outside an asset's inputs goes through `read`, `read_rows` or `missing_counts`.

    Two files, so that a SQL user and a run never wait for each other. DuckDB lets one process
    open a file for writing only while no other process has it open at all, so the runs write
    `database`, which nobody else opens, and at the end of each run (the resource's teardown,
    failed runs too) it is copied whole to `replica`, the file users query, by an atomic rename
    (`lib.data.warehouse.publish_replica`). A reader with the old replica open keeps reading the
    old copy; one that opens it later gets the new. Once a run rather than once a publish: at
    100x the warehouse is large enough that a copy per publish cost a fifth of the run.

    Before anything is written, a run is refused if the warehouse's disk has less than
    `min_free_mb` free, while there is still room to record how it ended.
    """

    database: str = Field(description="Path of the DuckDB file the runs write.")
    replica: str | None = Field(
        default=None,
        description="Path of the read-only copy users query, replaced when a run ends; "
        "empty: no copy.",
    )
    warehouse_schema: str = Field(default="housing", description="Schema of the published tables.")
    min_free_mb: int = Field(
        default=64,
        description="A run is refused at its start if the warehouse's disk has less free.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        require_free_space(Path(self.database).parent, self.min_free_mb * 1_000_000)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.publish_replica()

    def publish_replica(self) -> bool:
        """Copy the runs' file to the users' if it changed since the last copy; whether it did."""
        if not self.replica or not replica_is_stale(self.database, self.replica):
            return False
        with self.connection() as connection:
            publish_replica(connection, self.database, self.replica, self.warehouse_schema)
        return True

    @contextmanager
    def connection(self):
        # DuckDBResource retries while another process holds the file's write lock.
        with DuckDBResource(database=self.database).get_connection() as connection:
            yield connection

    def table_name(self, name: str) -> str:
        return f"{self.warehouse_schema}.{name}"

    def publish(self, tables: dict[str, pd.DataFrame]) -> None:
        with self.connection() as connection:
            publish_tables(connection, self.warehouse_schema, tables)

    @property
    def users_file(self) -> str:
        """The file a user (or an MLflow dataset's source) reads the tables from."""
        return self.replica or self.database

    def exists(self, name: str) -> bool:
        with self.connection() as connection:
            return table_exists(connection, self.warehouse_schema, name)

    def read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A published table (or some of its columns); a missing one is named in the error."""
        with self.connection() as connection:
            return read_columns(connection, self.warehouse_schema, name, columns)

    def read_rows(self, name: str, column: str, values) -> pd.DataFrame:
        """The rows of a published table whose `column` is one of `values`, in its order."""
        with self.connection() as connection:
            return read_rows(connection, self.warehouse_schema, name, column, values)

    def missing_counts(self, name: str) -> tuple[pd.Series, int]:
        """The missing values of each column of a published table, and its rows."""
        with self.connection() as connection:
            return missing_counts(connection, self.warehouse_schema, name)

    def read_if_exists(self, name: str) -> pd.DataFrame | None:
        with self.connection() as connection:
            return read_table(connection, self.warehouse_schema, name)


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Every table asset is `<warehouse schema>.<asset name>` in the `Warehouse`."""

    warehouse: Warehouse

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        self.warehouse.publish({table: obj})
        context.add_output_metadata(
            {
                "dagster/row_count": len(obj),
                "dagster/column_schema": column_schema(obj),
                "dagster/table_name": self.warehouse.table_name(table),
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        # An input may ask for some columns only (`AssetIn(metadata={"columns": [...]})`).
        columns = (context.definition_metadata or {}).get("columns")
        return self.warehouse.read(context.asset_key.path[-1], columns)


def warehouse(home: Path | None = None) -> Warehouse:
    """The warehouse of the state directory (or of `home`): the runs' file
    (`settings.pipeline_warehouse_path`) and the users' copy (`settings.warehouse_path`)."""
    database = settings.pipeline_warehouse_path(home)
    replica = settings.warehouse_path(home)
    database.parent.mkdir(parents=True, exist_ok=True)
    adopt_replica(database, replica)
    return Warehouse(database=str(database), replica=str(replica))


class FitWorkers(dg.ConfigurableResource):
    """The worker processes the model steps fit in (one single-threaded fit per core).

    They are started when a run starts, so they are ready when the first model step needs
    them instead of costing that step their start-up.
    """

    jobs: int = Field(default=FIT_JOBS, description="Worker processes for the model fits.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        start_workers(self.jobs)


T = TypeVar("T")


class ModelSplit(dg.ConfigurableResource):
    """The run's split of the raw sales, made once for all of its model steps.

    Every model step reads the whole raw table and splits it the same way
    (`lib.ml.split.split_sales`), work that grows with the sales. The in-process executor sets
    a resource up once for the run, on the object every step receives, so the first model step
    makes the split and the later ones take it. It is kept under the raw table's data version
    as this Dagster instance last recorded it: a step that finds another version (a run of the
    same instance published the table in between) makes its own, as every step did without
    this resource. It is let go once the run's last model step has taken it, and at the run's
    end. Under an executor with a process per step, each step makes its own.
    """

    _splits: dict[str, tuple[Any, int]] | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._splits = {}

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._splits = None

    def take(self, version: str | None, make: Callable[[], T], takers: int) -> tuple[T, bool]:
        """The split of this data version, and whether this step made it (`make`) rather
        than taking an earlier step's; `takers` steps of the run need it. Without a version,
        or outside a run, it is made every time."""
        if version is None or self._splits is None:
            return make(), True
        if version in self._splits:
            split, left = self._splits.pop(version)
            if left > 1:
                self._splits[version] = (split, left - 1)
            return split, False
        split = make()
        # One version at a time: a newer one lets the older go.
        self._splits = {version: (split, takers - 1)} if takers > 1 else {}
        return split, True


class _MlflowInitContext(NamedTuple):
    """What dagster-mlflow's `MlFlow` reads from a resource's init context."""

    log: Any
    dagster_run: dg.DagsterRun
    run_id: str
    resource_config: dict


class MlflowTracking(dg.ConfigurableResource):
    """MLflow for the model assets: dagster-mlflow's run per Dagster run, and nested model runs.

    dagster-mlflow stays the integration: its `MlFlow` opens (or rejoins) one MLflow run per
    Dagster run, tagged `dagster_run_id`, and its `end_mlflow_on_run_finished` hook ends it (the
    hook calls `end_run` here). This resource wraps it and exposes only what the assets use.
    It connects on first use rather than at resource init: the in-process executor initialises
    every resource before the first step, so an unreachable store would otherwise fail
    `raw_housing` too; this way only the model steps meet it, with a message naming the URI.
    """

    tracking_uri: str = Field(
        default_factory=settings.mlflow_tracking_uri,
        description="MLflow tracking and registry store: a sqlite:/// path or a server URL.",
    )
    experiment_name: str = Field(
        default=settings.MLFLOW_EXPERIMENT, description="MLflow experiment of the runs."
    )
    system_metrics_seconds: float = Field(
        default=1.0,
        description="Each model run logs the machine's CPU, memory, disk and network use "
        "(MLflow system metrics, `system/*`) every this many seconds; 0 turns them off.",
    )

    _init_context: _MlflowInitContext | None = PrivateAttr(default=None)
    _tracking: MlFlow | None = PrivateAttr(default=None)
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Each Dagster run gets its own MLflow parent run, even when one process runs several.
        self._tracking = None
        self._run_id = None
        self._init_context = _MlflowInitContext(
            log=context.log,
            dagster_run=context.dagster_run,
            run_id=context.run_id,
            resource_config={
                "experiment_name": self.experiment_name,
                "mlflow_tracking_uri": self.tracking_uri,
            },
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # The hook ends the run only on jobs that carry it; asset runs launched from the UI or
        # `dagster asset materialize` use Dagster's implicit job, which has none.
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self._run_id:
            mlflow.end_run()
        self._tracking = None

    def _parent_run(self) -> MlFlow:
        if self._tracking is None:
            from housing_assets.lib.registry.store import ensure_experiment

            ensure_experiment(self.tracking_uri, self.experiment_name)
            self._tracking = MlFlow(self._init_context)
            self._run_id = mlflow.active_run().info.run_id
        return self._tracking

    @contextmanager
    def start_nested_run(self, run_name: str, tags: dict[str, str]) -> Iterator[ActiveRun]:
        """A run nested in this Dagster run's MLflow run; logging calls go to it."""
        self._parent_run()
        monitored = self.system_metrics_seconds > 0
        if monitored:
            # MLflow samples every 10 s by default and drops an unfinished interval: a model
            # run shorter than that would log none.
            mlflow.set_system_metrics_sampling_interval(self.system_metrics_seconds)
        with mlflow.start_run(
            run_name=run_name, nested=True, tags=tags, log_system_metrics=monitored
        ) as run:
            yield run

    def log_params(self, params: dict) -> None:
        mlflow.log_params(params)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics)

    def client(self) -> MlflowClient:
        """A client bound to this resource's tracking store and registry."""
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def end_run(self, status: str = "FINISHED") -> None:
        """Called by dagster-mlflow's hook after the last step; a no-op if nothing tracked."""
        if self._tracking is not None:
            self._tracking.end_run(status=status)
