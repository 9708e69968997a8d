"""Faults: a source replaced by a broken one, and a run killed mid-way, lose nothing."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.definitions import defs
from housing_assets.resources import HousingSource, WarehouseIOManager, housing_mlflow

TABLES = ("raw_housing", "cleaned_housing", "encoded_housing", "eda_target_correlations")


def resources_for(home: Path, source: Path) -> dict:
    database = str(home / "warehouse.duckdb")
    return {
        "io_manager": WarehouseIOManager(database=database),
        "warehouse": DuckDBResource(database=database),
        "source": HousingSource(location=str(source)),
        "mlflow": housing_mlflow.configured(
            {
                "experiment_name": "housing_assets",
                "mlflow_tracking_uri": f"sqlite:///{home}/mlflow.db",
            }
        ),
    }


def table_fingerprints(home: Path) -> dict[str, tuple]:
    """Row count and a content checksum of each table."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return {
            table: conn.execute(f"select count(*), sum(hash(t)) from housing.{table} t").fetchone()
            for table in TABLES
        }


def champion_version(home: Path) -> str:
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    return client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion").version


BROKEN_SOURCES = {
    # a whole column missing: raw_housing itself fails, naming it
    "missing-column": (lambda text: text.replace("Lot Area", "Lot Size", 1), None),
    # a truncated file: it parses, and the blocking raw check stops everything downstream
    "too-few-rows": (
        lambda text: "\n".join(text.splitlines()[:500]) + "\n",
        "at_least_1000_rows",
    ),
}


def test_broken_source_mid_day_keeps_tables_and_champion(tmp_path, monkeypatch, ames_csv):
    monkeypatch.setenv("HOUSING_HOME", str(tmp_path))
    source = tmp_path / "AmesHousing.csv"
    shutil.copy(ames_csv, source)
    job = defs.resolve_job_def("housing_pipeline")
    instance = dg.DagsterInstance.ephemeral()
    resources = resources_for(tmp_path, source)

    assert job.execute_in_process(instance=instance, resources=resources).success
    before, champion = table_fingerprints(tmp_path), champion_version(tmp_path)
    good_text = source.read_text()

    for name, (breaks, failed_check) in BROKEN_SOURCES.items():
        source.write_text(breaks(good_text))
        result = job.execute_in_process(
            instance=instance, resources=resources, raise_on_error=False
        )
        assert not result.success, name
        if failed_check is None:
            failure = next(e for e in result.all_events if e.is_step_failure)
            message = failure.step_failure_data.error.cause.message
            assert f"Source {source} lacks 1 required column(s): Lot Area" in message
        else:
            evaluation = next(
                e.event_specific_data
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.event_specific_data.check_name == failed_check
            )
            assert not evaluation.passed and evaluation.metadata["observed"].value == 499
        materialized = {
            e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization
        }
        assert materialized <= {"raw_housing"}, f"{name}: nothing downstream may run on bad data"
        after = table_fingerprints(tmp_path)
        assert {t: after[t] for t in TABLES[1:]} == {t: before[t] for t in TABLES[1:]}, name
        assert champion_version(tmp_path) == champion, name

    source.write_text(good_text)  # the next good run recovers with no manual step
    assert job.execute_in_process(instance=instance, resources=resources).success
    assert table_fingerprints(tmp_path) == before


def test_killed_run_leaves_whole_tables(tmp_path):
    env = {**os.environ, "HOUSING_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    command = [
        str(Path(sys.executable).parent / "dagster"), "job", "execute",
        "-m", "housing_assets.definitions", "-j", "housing_pipeline",
    ]  # fmt: skip
    victim = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    seen = []
    for line in victim.stdout:
        seen.append(line)
        if "STEP_START" in line and "encoded_housing" in line:
            os.killpg(victim.pid, signal.SIGKILL)
            break
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, "".join(seen[-20:])

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        tables = {
            row[0] for row in conn.execute("select table_name from duckdb_tables()").fetchall()
        }
        assert {"raw_housing", "cleaned_housing"} <= tables
        for table in tables & {"raw_housing", "cleaned_housing", "encoded_housing"}:
            assert conn.execute(f"select count(*) from housing.{table}").fetchone()[0] == 2930

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert table_fingerprints(tmp_path)["encoded_housing"][0] == 2930
    assert table_fingerprints(tmp_path)["eda_target_correlations"][0] > 10
