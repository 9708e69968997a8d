"""The code location loads, and the graph has the keys, deps, groups and job the issues name."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from housing_assets.definitions import defs
from housing_assets.lib.analysis.eda import EDA_TABLES
from housing_assets_tests.harness.env import child_env
from housing_assets_tests.harness.warehouse import staged_tables


def test_asset_keys_groups_and_deps():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "raw_housing": "data_pipeline",
        "cleaned_housing": "data_pipeline",
        "drift_reference": "data_pipeline",
        "encoded_housing": "data_pipeline",
        "linear_price_model": "ml_pipeline",
        "boosted_price_model": "ml_pipeline",
        "eda_report": "data_pipeline",
        **dict.fromkeys(EDA_TABLES, "data_pipeline"),
        "price_estimates": "valuation",
        "price_reasons": "valuation",
        "price_comparables": "valuation",
        "ratio_study": "valuation",
    }
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["cleaned_housing"] == {"raw_housing"}
    assert parents["encoded_housing"] == {"cleaned_housing"}
    # the models read the source rows (the one feature path); the cleaned table's checks gate them
    assert parents["linear_price_model"] == {"raw_housing", "cleaned_housing"}
    assert parents["boosted_price_model"] == {"raw_housing", "cleaned_housing"}
    assert parents["eda_report"] == {"raw_housing", "cleaned_housing", "encoded_housing"}
    assert parents["drift_reference"] == {"cleaned_housing"}
    assert parents["price_estimates"] == {
        "raw_housing", "cleaned_housing", "linear_price_model", "boosted_price_model",
    }  # fmt: skip
    # the reasons and comparables explain the estimates the champion made, house by house
    assert parents["price_reasons"] == {"raw_housing", "price_estimates"}
    assert parents["price_comparables"] == {"raw_housing", "price_estimates"}
    # the ratio study reads the models' scored sales from their MLflow runs, after the champion
    # has priced the valuations
    assert parents["ratio_study"] == {
        "price_estimates", "linear_price_model", "boosted_price_model",
    }  # fmt: skip
    for table in EDA_TABLES:
        assert parents[table] == {"eda_report"}, table


def test_every_warehouse_table_is_an_asset(pipeline_run):
    """After a whole run, each table in the warehouse's schema is an asset of the location,
    with its row count and schema in its latest materialisation."""
    import duckdb

    from housing_assets import settings

    _, instance = pipeline_run
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        tables = dict(
            connection.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = ?",
                ["housing"],
            ).fetchall()
        )
    assert len(tables) == 17 and staged_tables(settings.warehouse_path()) == []
    assert set(tables) - keys == set(), "tables that are not assets of the code location"
    for table in tables:
        event = instance.get_latest_materialization_event(dg.AssetKey(table))
        assert event is not None, table
        metadata = event.asset_materialization.metadata
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
            rows = connection.execute(f'select count(*) from housing."{table}"').fetchone()[0]
            columns = [r[0] for r in connection.execute(f'describe housing."{table}"').fetchall()]
        assert metadata["dagster/row_count"].value == rows, table
        assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == columns
        assert metadata["dagster/table_name"].value == f"housing.{table}"


def test_every_asset_has_description_and_kinds():
    for assets_def in defs.assets:
        for spec in assets_def.specs:
            assert spec.description, f"{spec.key} has no description"
            assert spec.kinds, f"{spec.key} has no kinds"


def test_model_checks_exist():
    graph = defs.resolve_asset_graph()
    check_keys = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for model in ("linear_price_model", "boosted_price_model"):
        assert (model, "test_r2_above_floor") in check_keys
        assert (model, "predictions_finite_and_positive") in check_keys
        assert (model, "interval_coverage_near_nominal") in check_keys
        assert (model, "rmse_not_worse_than_previous") in check_keys


def test_job_runs_in_process_with_mlflow_hook():
    job = defs.resolve_job_def("housing_pipeline")
    assert job.executor_def is dg.in_process_executor
    assert "end_mlflow_on_run_finished" in {hook.name for hook in job.hook_defs}


def test_mlflow_ui_url_prefers_the_explicit_address(monkeypatch):
    from housing_assets import settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000/")
    monkeypatch.delenv("MLFLOW_UI_URL", raising=False)
    assert settings.mlflow_ui_url() == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_UI_URL", "https://mlflow.example.org/")
    assert settings.mlflow_ui_url() == "https://mlflow.example.org"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///state/mlflow.db")
    monkeypatch.delenv("MLFLOW_UI_URL")
    assert settings.mlflow_ui_url() == "http://127.0.0.1:5000"


def test_models_take_a_tune_flag_that_defaults_to_off():
    job = defs.resolve_implicit_global_asset_job_def()
    tuned = {"config": {"tune": True}}
    config = {"ops": {"boosted_price_model": tuned, "linear_price_model": tuned}}
    assert dg.validate_run_config(job, config)["ops"]["boosted_price_model"]["config"] == {
        "tune": True
    }
    # no config at all (the schedule's runs): the default, no tuning
    assert dg.validate_run_config(job, {})["ops"]["linear_price_model"]["config"] == {"tune": False}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"boosted_price_model": {"config": {"tune": "y"}}}})


def test_the_dg_cli_lists_what_the_definitions_hold(tmp_path):
    """`dg` (pyproject's [tool.dg]) loads the same code location as the classic CLI."""
    dg_cli = Path(sys.executable).with_name("dg")
    listed = subprocess.run(
        [str(dg_cli), "list", "defs", "--json"],
        cwd=Path(__file__).resolve().parents[1],
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    found = json.loads(listed.stdout)
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in found["assets"]} == {
        key.to_user_string() for key in graph.get_all_asset_keys()
    }
    assert {j["name"] for j in found["jobs"]} == {
        "housing_pipeline",
        "pin_drift_reference",
        "prune_old_runs",
    }
    schedules = {s["name"]: s["cron_schedule"] for s in found["schedules"]}
    assert schedules["housing_pipeline_schedule"] == "*/2 * * * *"
    checks = {c["key"] for c in found["asset_checks"]}
    assert "raw_housing:unique_pid" in checks
    assert len(checks) == len(list(graph.asset_check_keys))
