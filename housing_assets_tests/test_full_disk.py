"""A full disk: the warehouse write names its cause, keeps the published table, and the next
write after space is freed publishes (a real DuckDB file on a small tmpfs; mounting one needs
root, which CI has here; elsewhere the test is skipped with a message)."""

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from housing_assets.resources import Warehouse
from housing_assets_tests.harness.mlflow_store import empty_store

# A table whose staged copy does not fit on an 8 MB disk (about 9.6 MB of random floats).
DISK = "8m"
ROWS, COLUMNS = 200_000, 6


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount_point)],
            capture_output=True,
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip(
            "mounting a small tmpfs needs root with the right to mount (CI here runs as root)"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_write_that_fills_the_disk_names_it_and_keeps_the_table(small_disk):
    database = small_disk / "warehouse.duckdb"
    warehouse = Warehouse(database=str(database))
    warehouse.publish({"sales": pd.DataFrame({"PID": np.arange(100)})})
    rng = np.random.default_rng(0)
    bigger = pd.DataFrame({f"c{i}": rng.random(ROWS) for i in range(COLUMNS)})

    with pytest.raises(Exception, match="No space left on device") as error:
        warehouse.publish({"sales": bigger})
    assert f'Could not write file "{database}' in str(error.value)  # the file at fault
    assert "no transaction is active" not in str(error.value)
    pd.testing.assert_frame_equal(warehouse.read("sales"), pd.DataFrame({"PID": np.arange(100)}))
    with warehouse.connection() as connection:  # and no staged copy is left behind
        assert connection.execute("select table_name from duckdb_tables()").fetchall() == [
            ("sales",)
        ]

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    warehouse.publish({"sales": bigger})
    assert len(warehouse.read("sales")) == ROWS


def test_a_run_on_a_nearly_full_disk_ends_failed_before_writing_anything(
    small_disk, ames_csv, monkeypatch
):
    """With 700 KB free the run is refused when it starts, while its end can still be recorded:
    the run ends FAILURE in the instance on that disk, no MLflow run is left RUNNING, and the
    error names the directory, what is free and what is needed."""
    import dagster as dg
    from mlflow.tracking import MlflowClient

    from housing_assets.definitions import defs
    from housing_assets.resources import (
        HousingSource,
        MlflowTracking,
        WarehouseIOManager,
        warehouse,
    )

    home = small_disk / "home"
    monkeypatch.setenv("HOUSING_HOME", str(home))
    (home / "dagster").mkdir(parents=True)
    instance = dg.DagsterInstance.local_temp(str(home / "dagster"))
    uri = empty_store(home)  # the store exists, as after earlier runs
    shared = warehouse(home)
    fill(small_disk, leave=700_000)

    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or ())],
        selection=["raw_housing", "cleaned_housing", "boosted_price_model"],
        instance=instance,
        resources={
            **defs.resources,
            "io_manager": WarehouseIOManager(warehouse=shared),
            "warehouse": shared,
            "source": HousingSource(location=str(ames_csv)),
            "mlflow": MlflowTracking(experiment_name="housing_assets", tracking_uri=uri),
        },
        raise_on_error=False,
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    failure = next(e for e in result.all_events if e.is_failure)
    message = str(failure.event_specific_data.error)
    assert f"on the disk of {home / 'pipeline'}" in message and "MB is free" in message
    assert not shared_tables(home), "nothing was written"
    assert (
        MlflowClient(uri).search_runs(
            [e.experiment_id for e in MlflowClient(uri).search_experiments()]
        )
        == []
    ), "no MLflow run was started, so none is left RUNNING"


def free_bytes(disk) -> int:
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


def fill(disk, leave: int) -> None:
    """Take all but `leave` bytes of the disk with one file."""
    descriptor = os.open(disk / "ballast", os.O_CREAT | os.O_WRONLY)
    try:
        os.posix_fallocate(descriptor, 0, free_bytes(disk) - leave)
    finally:
        os.close(descriptor)
    assert 600_000 < free_bytes(disk) <= leave


def shared_tables(home) -> list:
    return [p.name for p in (home / "pipeline").glob("*.duckdb")]
