"""The instance plugins' use of Dagster internals, pinned down: each test fails when one moves.

`housing_assets/instance/` is the only place allowed to import `dagster._...`; the grep test
below keeps it that way, and the others check that every internal those plugins rely on still
exists with the shape they use, so an upgrade fails here, not in a deployed webserver.
"""

import inspect
import re
from pathlib import Path

import dagster as dg

PACKAGE = Path(__file__).resolve().parents[1] / "housing_assets"


def test_only_the_instance_plugins_import_dagster_internals():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(from|import) dagster\._", path.read_text(), re.M)
        and path.parent.name != "instance"
    ]
    assert offenders == []


def test_run_launcher_internals_are_where_it_expects_them():
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
    from dagster._core.storage.tags import GRPC_INFO_TAG
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
    from dagster._serdes import ConfigurableClassData

    assert issubclass(DagsterUserCodeUnreachableError, Exception)
    assert {WorkerStatus.RUNNING.name, WorkerStatus.FAILED.name} <= set(WorkerStatus.__members__)
    assert list(inspect.signature(CheckRunHealthResult).parameters)[:2] == ["status", "msg"]
    assert GRPC_INFO_TAG == ".dagster/grpc_info"
    assert set(inspect.signature(DagsterGrpcClient).parameters) >= {
        "port",
        "socket",
        "host",
        "use_ssl",
    }
    assert "timeout" in inspect.signature(DagsterGrpcClient.can_cancel_execution).parameters
    assert CanCancelExecutionRequest(run_id="x").run_id == "x"
    assert "can_cancel" in CanCancelExecutionResult.__annotations__ or hasattr(
        CanCancelExecutionResult(can_cancel=True), "can_cancel"
    )
    assert callable(ConfigurableClassData)
    # the hooks the launcher overrides
    assert "supports_check_run_worker_health" in dir(dg.DefaultRunLauncher)
    assert "check_run_worker_health" in dir(dg.DefaultRunLauncher)


def test_postgres_storage_internals_are_where_it_expects_them():
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.event_log import PostgresEventLogStorage
    from dagster_postgres.run_storage import PostgresRunStorage
    from dagster_postgres.schedule_storage import PostgresScheduleStorage
    from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

    init = inspect.getsource(DagsterPostgresStorage.__init__)
    for store in ("_run_storage", "_event_log_storage", "_schedule_storage"):
        assert f"self.{store}" in init, store
    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        optimize = storage.optimize_for_webserver
        assert list(inspect.signature(optimize).parameters) == [
            "self", "statement_timeout", "pool_recycle", "max_overflow",
        ], storage  # fmt: skip
        assert "self._engine" in inspect.getsource(optimize), storage
    assert callable(pg_url_from_config) and callable(get_token_provider_from_config)
