"""Automation: the schedule's guard, data checks, drift, retention, failure alerts, re-pin."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from housing_assets import settings
from housing_assets.automation import (
    CODE_VERSION_TAG,
    code_version,
    housing_pipeline_schedule,
    prune_finished_runs,
    record_failed_runs,
)
from housing_assets.checks import (
    CLEANED_RULES,
    RAW_RULES,
    data_check_results,
    drift_check_result,
)
from housing_assets.lib.data import quality
from housing_assets.lib.data.drift import DRIFT_FEATURES, drift_table, population_stability_index


@dg.op
def noop():
    return 1


@dg.job
def housing_pipeline():  # same name as the real job: the schedule filters runs by job name
    noop()


def add_run(instance, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """A run record of the pipeline job in the given state (as the daemon would leave it).

    A queued run must name the code location it came from; an in-process origin stands in.
    """
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(
            InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__)),
            "__repository__",
        ),
        "housing_pipeline",
    )
    return instance.add_run(
        dg.DagsterRun(job_name="housing_pipeline", status=status, remote_job_origin=origin)
    )


@dg.op
def explode():
    raise ValueError("the source went away")


@dg.job
def failing_job():
    explode()


# ---- the schedule -------------------------------------------------------------------------


def test_schedule_requests_a_run_when_idle():
    with dg.instance_for_test() as instance:
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert len(result.run_requests) == 1 and result.skip_message is None


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED])
def test_schedule_skips_while_a_run_is_in_flight(status):
    with dg.instance_for_test() as instance:
        run = add_run(instance, status)
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert result.run_requests == [] or result.run_requests is None
        assert result.skip_message == (
            f"Run {run.run_id} of housing_pipeline is still {status.value}; "
            "overlapping runs would race on the warehouse and the champion alias."
        )


def test_schedule_runs_again_after_the_run_finished():
    with dg.instance_for_test() as instance:
        assert housing_pipeline.execute_in_process(instance=instance).success
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert len(result.run_requests) == 1


def record_raw_sha(instance, sha: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization("raw_housing", metadata={"sha256": sha})
    )


def test_schedule_skips_when_the_source_is_unchanged(ames_csv):
    sha = hashlib.sha256(ames_csv.read_bytes()).hexdigest()
    with dg.instance_for_test() as instance:
        tags = {CODE_VERSION_TAG: code_version()}
        run_id = housing_pipeline.execute_in_process(instance=instance, tags=tags).run_id
        record_raw_sha(instance, sha)
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert result.skip_message == (
            f"Source {ames_csv} is unchanged since run {run_id} (sha256 {sha[:12]}); "
            "launch housing_pipeline by hand to force a run."
        )
        record_raw_sha(instance, "0" * 64)  # the bytes changed since
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert len(result.run_requests) == 1


def test_schedule_runs_when_the_last_run_failed(ames_csv):
    sha = hashlib.sha256(ames_csv.read_bytes()).hexdigest()
    with dg.instance_for_test() as instance:
        housing_pipeline.execute_in_process(
            instance=instance, tags={CODE_VERSION_TAG: code_version()}
        )
        record_raw_sha(instance, sha)
        add_run(instance, dg.DagsterRunStatus.STARTED)
        run = instance.get_runs(limit=1)[0]
        instance.report_run_failed(run)
        result = housing_pipeline_schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert len(result.run_requests) == 1


def test_schedule_definition():
    assert housing_pipeline_schedule.cron_schedule == "*/2 * * * *"
    assert housing_pipeline_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert housing_pipeline_schedule.job_name == "housing_pipeline"


# ---- data checks ----------------------------------------------------------------------------


def results_by_name(rules, frame):
    return {r.check_name: r for r in data_check_results(dg.AssetKey("x"), rules, frame)}


def test_raw_checks_pass_on_the_real_data(raw_frame):
    results = results_by_name(RAW_RULES, raw_frame)
    assert all(r.passed for r in results.values())
    assert results["enough_rows"].metadata["observed"].value == 2930
    assert results["enough_rows"].metadata["threshold"].value == 1000


@pytest.mark.parametrize(
    ("check", "edit", "observed"),
    [
        ("required_columns_present", lambda f: f.drop(columns=["Lot Area"]), 1),
        ("enough_rows", lambda f: f.head(999), 999),
        ("unique_pid", lambda f: f.assign(PID=[1, 1, *range(2, len(f))]), 2),
        ("unique_pid", lambda f: f.assign(PID=f["PID"].where(f.index != 5)), 1),
        ("unique_pid", lambda f: f.assign(PID=[None, 7, 7, *range(10, len(f) + 7)]), 3),
        ("sale_price_positive", lambda f: f.assign(SalePrice=[0, -1, *f["SalePrice"][2:]]), 2),
        ("areas_non_negative", lambda f: f.assign(**{"Gr Liv Area": -f["Gr Liv Area"]}), 2930),
    ],
)
def test_each_raw_check_fails_on_a_bad_frame(raw_frame, check, edit, observed):
    bad = edit(raw_frame.copy())
    result = (
        results_by_name(RAW_RULES, bad)[check]
        if check != "required_columns_present"
        else (data_check_results(dg.AssetKey("x"), RAW_RULES[:1], bad)[0])
    )
    assert not result.passed
    assert result.metadata["observed"].value == observed


def test_cleaned_checks(cleaned_frame):
    results = results_by_name(CLEANED_RULES, cleaned_frame)
    assert results["no_missing_values"].passed
    # the real data has a few houses sold before their recorded build year (sold unfinished)
    assert results["year_built_not_after_sale"].severity == dg.AssetCheckSeverity.WARN
    assert results["year_built_not_after_sale"].metadata["observed"].value == int(
        (cleaned_frame["Year Built"] > cleaned_frame["Yr Sold"]).sum()
    )


def test_cleaned_checks_fail_on_a_bad_frame():
    good = pd.DataFrame(
        {
            **{column: [100.0, 0.0, 50.0] for column in quality.AREA_COLUMNS},
            "PID": [1, 2, 3],
            "Year Built": [1990, 2000, 2005],
            "Yr Sold": [2008, 2009, 2010],
            "Year Remod/Add": [1995, 2000, 2006],
        }
    )
    assert all(r.passed for r in results_by_name(CLEANED_RULES, good).values())
    bad = good.copy()
    bad.loc[1, "Lot Area"] = np.nan
    bad.loc[2, "Year Built"] = 2011
    results = results_by_name(CLEANED_RULES, bad)
    assert results["no_missing_values"].metadata["observed"].value == 1
    assert results["year_built_not_after_sale"].metadata["observed"].value == 1
    assert results["remodel_not_before_built"].metadata["observed"].value == 1
    assert not any(r.passed for r in results.values())


# ---- drift ----------------------------------------------------------------------------------


def test_psi_is_zero_on_the_same_data_and_large_on_a_shift():
    values = np.arange(1000, dtype=float)
    assert population_stability_index(values, values) == pytest.approx(0.0)
    shifted = values + 500
    assert population_stability_index(values, shifted) > 1.0


def test_drift_check_flags_a_shifted_copy_and_passes_the_same_data(cleaned_frame):
    same = drift_check_result(dg.AssetKey("x"), drift_table(cleaned_frame, cleaned_frame))
    assert same.passed and same.metadata["max_psi"].value == pytest.approx(0.0)
    shifted = cleaned_frame.assign(SalePrice=cleaned_frame["SalePrice"] * 1.5)
    result = drift_check_result(dg.AssetKey("x"), drift_table(cleaned_frame, shifted))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["drifted_features"].value == "SalePrice"
    assert result.metadata["psi SalePrice"].value > 0.2
    assert result.metadata["psi Gr Liv Area"].value == pytest.approx(0.0)


# ---- retention ------------------------------------------------------------------------------


def test_retention_deletes_only_old_finished_runs():
    with dg.instance_for_test() as instance:
        finished = housing_pipeline.execute_in_process(instance=instance).run_id
        failed = failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id
        running = add_run(instance, dg.DagsterRunStatus.STARTED)
        queued = add_run(instance, dg.DagsterRunStatus.QUEUED)
        now = datetime.now(UTC)

        assert prune_finished_runs(instance, timedelta(days=7), now) == []
        assert len(instance.get_runs()) == 4

        deleted = prune_finished_runs(instance, timedelta(days=7), now + timedelta(days=8))
        assert set(deleted) == {finished, failed}
        remaining = {run.run_id for run in instance.get_runs()}
        assert remaining == {running.run_id, queued.run_id}
        assert instance.all_logs(finished) == []


# ---- failure alerts -------------------------------------------------------------------------


def test_failure_sensor_records_the_failed_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HOUSING_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        failure_event = next(
            e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="record_failed_runs",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure_event,
        ).for_run_failure()
        record_failed_runs(context)
    lines = settings.alerts_log().read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["job"] == "failing_job" and record["run_id"] == result.run_id
    assert record["failed_steps"] == ["explode"]
    assert "ValueError: the source went away" in record["error"]


# ---- drift reference re-pin -----------------------------------------------------------------


def test_pin_drift_reference_job_repins_and_the_pipeline_keeps_the_pin(tmp_path, cleaned_frame):
    from housing_assets.assets.preparation import drift_reference
    from housing_assets.definitions import defs
    from housing_assets.resources import Warehouse, WarehouseIOManager

    repin = {"ops": {"drift_reference": {"config": {"repin": True}}}}
    job = defs.resolve_job_def("pin_drift_reference")
    assert dg.validate_run_config(job, {})["ops"]["drift_reference"]["config"] == {"repin": True}
    database = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(database) as conn:
        conn.execute("create schema housing")
        conn.register("cleaned", cleaned_frame.head(100))
        conn.execute("create table housing.cleaned_housing as select * from cleaned")
    resources = {
        "warehouse": Warehouse(database=database),
        "io_manager": WarehouseIOManager(warehouse=Warehouse(database=database)),
    }

    def run(config):
        assets = [drift_reference, dg.SourceAsset("cleaned_housing")]
        result = dg.materialize(assets, resources=resources, run_config=config)
        return result.asset_materializations_for_node("drift_reference")

    (pinned,) = run({})  # nothing pinned yet: the pipeline pins
    assert pinned.metadata["dagster/row_count"].value == 100
    with duckdb.connect(database) as conn:
        reference = conn.execute("select * from housing.drift_reference").fetchdf()
        conn.execute("delete from housing.cleaned_housing where PID % 2 = 0")
    assert list(reference.columns) == list(DRIFT_FEATURES)
    assert reference["SalePrice"].tolist() == cleaned_frame["SalePrice"].head(100).tolist()
    assert run({}) == []  # the schedule's runs keep the pin
    (repinned,) = run(repin)  # the job's config re-pins to the current table
    halved = len(cleaned_frame.head(100).query("PID % 2 == 1"))
    assert repinned.metadata["dagster/row_count"].value == halved
    with duckdb.connect(database, read_only=True) as conn:
        assert conn.execute("select count(*) from housing.drift_reference").fetchone()[0] == halved


def test_a_blank_pid_is_named_by_its_data_row():
    frame = pd.DataFrame({"PID": [11.0, np.nan, 12.0, 11.0, np.nan]})
    outcome = quality.unique_pids(frame)
    assert not outcome.passed
    assert outcome.observed == 4  # two rows sharing 11 and two without a PID
    assert outcome.detail == (
        "duplicated PIDs: [11.0]; 2 blank PID(s), rows [2, 5] (1: the first after the header)"
    )
