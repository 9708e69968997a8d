"""The GraphQL client and `housing-api`, checked against a real `dagster-webserver`.

The state is a copy of the session's materialised one (`golden_state`: the whole graph, run once
per pytest worker), in its own directory. Launches through the API (at the end of this module)
run the job as the CLI does, in the webserver's run processes. Two webservers serve that state
on free loopback ports, one writable and one `--read-only`. The instance's dagster.yaml uses
the DefaultRunCoordinator, so a run launched through the API starts at once without a daemon.
No daemon runs, so nothing changes the state except the launches at the end of this module.
Expected values come from the sources the materialisation wrote: the DuckDB
warehouse, the MLflow store, the Dagster instance and the Definitions.
"""

import json
import logging
import math
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from housing_assets.api import client as client_module
from housing_assets.api.cli import main as cli_main
from housing_assets.api.client import (
    HousingApi,
    LaunchRefusedError,
    RunTimeoutError,
    ServerUnreachableError,
    UnknownNameError,
    auth_headers,
    metadata_value,
    model_summary,
    run_summary,
)
from housing_assets.processes import free_port, stop_group
from housing_assets_tests.harness.env import child_env
from housing_assets_tests.harness.graph import FRESH_ASSETS
from housing_assets_tests.harness.webserver import start_webserver, wait_until_serving
from housing_assets_tests.test_models import METRIC_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODELS = ("boosted_price_model", "linear_price_model")
RUN_TIMEOUT = 300
STARTUP_TIMEOUT = 240
DAGSTER_YAML = """\
telemetry:
  enabled: false
# Launch runs at once: no daemon is needed to dequeue them.
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""


# -- unit tests: conversion of hand-made GraphQL answers --------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"__typename": "FloatMetadataEntry", "floatValue": 0.25, "floatRepr": "0.25"}, 0.25),
        ({"__typename": "FloatMetadataEntry", "floatValue": None, "floatRepr": "nan"}, None),
        ({"__typename": "IntMetadataEntry", "intValue": 2930, "intRepr": "2930"}, 2930),
        (
            {"__typename": "IntMetadataEntry", "intValue": None, "intRepr": "8589934592"},
            8589934592,
        ),
        ({"__typename": "BoolMetadataEntry", "boolValue": False}, False),
        ({"__typename": "TextMetadataEntry", "text": "abc123"}, "abc123"),
        ({"__typename": "UrlMetadataEntry", "url": "http://x/runs/1"}, "http://x/runs/1"),
        ({"__typename": "PathMetadataEntry", "path": "/s/r.html"}, "/s/r.html"),
        ({"__typename": "MarkdownMetadataEntry", "mdStr": "| a |\n|---|"}, "| a |\n|---|"),
        (
            {"__typename": "JsonMetadataEntry", "jsonString": '{"alpha": 1.5, "x": [1, NaN]}'},
            {"alpha": 1.5, "x": [1, None]},
        ),
        ({"__typename": "TimestampMetadataEntry", "timestamp": 1700000000.5}, 1700000000.5),
        ({"__typename": "AssetMetadataEntry", "assetKey": {"path": ["a", "b"]}}, "a/b"),
        ({"__typename": "PipelineRunMetadataEntry", "runId": "r-1"}, "r-1"),
        ({"__typename": "NullMetadataEntry"}, None),
        (
            {
                "__typename": "TableSchemaMetadataEntry",
                "schema": {"columns": [{"name": "PID", "type": "int64", "description": None}]},
            },
            {"columns": [{"name": "PID", "type": "int64", "description": None}]},
        ),
        (
            {
                "__typename": "TableMetadataEntry",
                "table": {
                    "records": ['{"a": 1, "b": "x"}'],
                    "schema": {"columns": [{"name": "a", "type": "int"}]},
                },
            },
            {"columns": ["a"], "records": [{"a": 1, "b": "x"}]},
        ),
        (
            {"__typename": "TableColumnLineageMetadataEntry"},
            {"unsupported_metadata_type": "TableColumnLineageMetadataEntry"},
        ),
    ],
)
def test_metadata_value(entry, expected):
    assert metadata_value({"label": "k", **entry}) == expected


def test_model_summary_keeps_float_entries_as_metrics():
    event = {
        "runId": "run-1",
        "timestamp": "1700000000123",
        "metadataEntries": [
            {"__typename": "FloatMetadataEntry", "label": "test_rmse", "floatValue": 20559.5},
            {"__typename": "FloatMetadataEntry", "label": "test_r2", "floatValue": 0.94},
            {"__typename": "IntMetadataEntry", "label": "train_rows", "intValue": 2051},
            {"__typename": "TextMetadataEntry", "label": "mlflow_run_id", "text": "abc"},
            {"__typename": "UrlMetadataEntry", "label": "mlflow_run_url", "url": "http://m/abc"},
            {"__typename": "TextMetadataEntry", "label": "model_uri", "text": "models:/m/3"},
            {"__typename": "IntMetadataEntry", "label": "registered_version", "intValue": 3},
            {"__typename": "BoolMetadataEntry", "label": "promoted_to_champion", "boolValue": True},
        ],
    }
    assert model_summary(event) == {
        "run_id": "run-1",
        "timestamp": "2023-11-14T22:13:20.123000+00:00",
        "metrics": {"test_rmse": 20559.5, "test_r2": 0.94},
        "mlflow_run_id": "abc",
        "mlflow_run_url": "http://m/abc",
        "model_uri": "models:/m/3",
        "registered_version": 3,
        "promoted_to_champion": True,
    }


def test_run_summary_duration_and_unfinished_run():
    run = {
        "runId": "r",
        "jobName": "housing_pipeline",
        "status": "SUCCESS",
        "creationTime": 1700000000.0,
        "startTime": 1700000001.0,
        "endTime": 1700000046.5,
        "tags": [{"key": "dagster/code_location", "value": "housing_assets"}],
        "assetSelection": [{"path": ["raw_housing"]}],
    }
    assert run_summary(run) == {
        "run_id": "r",
        "job": "housing_pipeline",
        "status": "SUCCESS",
        "created": "2023-11-14T22:13:20+00:00",
        "start_time": "2023-11-14T22:13:21+00:00",
        "end_time": "2023-11-14T22:14:06.500000+00:00",
        "duration_seconds": 45.5,
        "assets": ["raw_housing"],
        "tags": {"dagster/code_location": "housing_assets"},
    }
    unfinished = run_summary({**run, "status": "STARTED", "endTime": None, "assetSelection": None})
    assert (unfinished["end_time"], unfinished["duration_seconds"], unfinished["assets"]) == (
        None,
        None,
        None,
    )


def test_auth_headers_come_only_from_the_environment(monkeypatch):
    monkeypatch.delenv("HOUSING_API_TOKEN", raising=False)
    monkeypatch.delenv("HOUSING_API_TOKEN_HEADER", raising=False)
    assert auth_headers() == {}
    assert "Authorization" not in HousingApi("http://127.0.0.1:1")._session.headers
    monkeypatch.setenv("HOUSING_API_TOKEN", "t0k")
    assert auth_headers() == {"Authorization": "Bearer t0k"}
    assert HousingApi("http://127.0.0.1:1")._session.headers["Authorization"] == "Bearer t0k"
    monkeypatch.setenv("HOUSING_API_TOKEN_HEADER", "Dagster-Cloud-Api-Token")
    assert auth_headers() == {"Dagster-Cloud-Api-Token": "t0k"}


def test_cli_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("assets", "latest", "metrics", "checks", "freshness", "runs", "run", "logs",
                    "status", "launch", "schedule", "--url"):  # fmt: skip
        assert command in out
    assert "http://127.0.0.1:3000" in out


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["no-such-command"])
    assert exit_info.value.code == 2


def test_server_down_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachableError, match=re.escape(f"at {url} ")):
        HousingApi(url).runs()
    with pytest.raises(ServerUnreachableError, match=re.escape(f"at {url} ")):
        HousingApi(url).run_status("some-run")  # through DagsterGraphQLClient
    done = subprocess.run(
        [str(BIN / "housing-api"), "--url", url, "metrics"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: cannot reach the Dagster webserver at {url} ")
    assert "Traceback" not in done.stderr


# -- the real webserver ---------------------------------------------------------------------


def subprocess_env(home: Path) -> dict[str, str]:
    return child_env(home, DAGSTER_HOME=str(home / "dagster"))


@pytest.fixture(scope="module")
def home(tmp_path_factory, golden_state) -> Path:
    """A state directory where housing_pipeline has run once, to success (a copy of the
    session's)."""
    home = golden_state(tmp_path_factory.mktemp("api") / "home")
    (home / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML)
    return home


@pytest.fixture(scope="module")
def servers(home):
    """(writable URL, read-only URL): two webservers over the same materialised state."""
    ports = free_port(), free_port()
    processes = [
        start_webserver(home / f"webserver-{ports[0]}.log", ports[0], subprocess_env(home)),
        start_webserver(
            home / f"webserver-{ports[1]}.log", ports[1], subprocess_env(home), "--read-only"
        ),
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process, port in zip(urls, processes, ports, strict=True):
            wait_until_serving(url, process, home / f"webserver-{port}.log")
        yield urls[0], urls[1]
    finally:
        for process in processes:
            stop_group(process)


@pytest.fixture(scope="module")
def url(servers) -> str:
    return servers[0]


@pytest.fixture(scope="module")
def api(url):
    with HousingApi(url) as api:
        yield api


@pytest.fixture(scope="module")
def instance(home):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        yield instance


@pytest.fixture(scope="module")
def mlflow_client(home):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def graph():
    from housing_assets.definitions import defs

    return defs.resolve_asset_graph()


def plain(value):
    """A Dagster MetadataValue as the client returns it: NaN as None, paths/markdown as text."""
    import dagster as dg

    if isinstance(value, dg.FloatMetadataValue):
        return None if value.value is None or not math.isfinite(value.value) else value.value
    if isinstance(value, dg.TableSchemaMetadataValue):
        return {
            "columns": [
                {"name": c.name, "type": c.type, "description": c.description}
                for c in value.value.columns
            ]
        }
    return value.value


def cli_json(capsys, *argv: str):
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    return json.loads(captured.out)


def console(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "housing-api"), *argv], capture_output=True, text=True, timeout=RUN_TIMEOUT + 60
    )


@pytest.mark.e2e
def test_assets_groups_and_lineage_match_the_definitions(api, graph):
    assets = {asset["key"]: asset for asset in api.assets()}
    expected = {
        key.to_user_string(): {
            "group": graph.get(key).group_name,
            "upstream": sorted(k.to_user_string() for k in graph.get(key).parent_keys),
            "downstream": sorted(k.to_user_string() for k in graph.get(key).child_keys),
        }
        for key in graph.get_all_asset_keys()
    }
    assert {
        k: {f: a[f] for f in ("group", "upstream", "downstream")} for k, a in assets.items()
    } == (expected)
    assert assets["cleaned_housing"]["upstream"] == ["raw_housing"]
    assert assets["cleaned_housing"]["group"] == "data_pipeline"
    assert assets["linear_price_model"]["group"] == "ml_pipeline"
    assert assets["boosted_price_model"]["kinds"] == ["mlflow", "sklearn"]
    assert "housing_pipeline" in assets["raw_housing"]["jobs"]


@pytest.mark.e2e
def test_latest_materializations_equal_what_the_run_wrote(api, home, instance):
    import dagster as dg
    import duckdb

    latest = api.latest_materializations()
    json.dumps(latest, allow_nan=False)  # plain JSON, no NaN
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as warehouse:
        for table in ("raw_housing", "cleaned_housing", "encoded_housing"):
            (rows,) = warehouse.execute(f"select count(*) from housing.{table}").fetchone()
            assert latest[table]["metadata"]["dagster/row_count"] == rows
    assert latest["cleaned_housing"]["metadata"]["dagster/row_count"] == 2930

    for key, got in latest.items():
        event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
        assert got["run_id"] == event.run_id
        metadata = event.asset_materialization.metadata
        assert got["metadata"] == {label: plain(value) for label, value in metadata.items()}

    eda = latest["eda_report"]["metadata"]
    assert eda["report_path"] == str(home / "reports" / "eda_report.html")
    assert Path(eda["report_path"]).is_file()
    assert isinstance(eda["findings"], str) and eda["findings"].strip()
    assert isinstance(eda["top_pearson_r"], float)
    assert isinstance(eda["rows_analysed"], int)


@pytest.mark.e2e
def test_latest_for_named_assets_and_an_unknown_one(api):
    only = api.latest_materializations(["eda_report", "cleaned_housing"])
    assert sorted(only) == ["cleaned_housing", "eda_report"]
    with pytest.raises(UnknownNameError, match=r"unknown asset\(s\): no_such_asset;"):
        api.latest_materializations(["cleaned_housing", "no_such_asset"])


def model_metrics_of(run) -> dict[str, float]:
    """A model run's own metrics, without MLflow's system metrics (which must be there)."""
    assert "system/cpu_utilization_percentage" in run.data.metrics
    return {k: v for k, v in run.data.metrics.items() if not k.startswith("system/")}


@pytest.mark.e2e
def test_model_metrics_equal_the_mlflow_runs(api, mlflow_client, instance):
    metrics = api.model_metrics()
    assert sorted(metrics) == list(MODELS)
    (run_record,) = instance.get_run_records()
    for model in MODELS:
        got = metrics[model]
        run = mlflow_client.get_run(got["mlflow_run_id"])
        assert run.info.run_name == model
        assert run.data.tags["dagster_run_id"] == run_record.dagster_run.run_id == got["run_id"]
        # all of the model's metrics, exactly (MLflow's system/* metrics are the machine's)
        assert got["metrics"] == model_metrics_of(run)
        # those of a scheduled run (cv_rmse comes from a tuning run only)
        assert sorted(got["metrics"]) == sorted(METRIC_KEYS)
        assert got["mlflow_run_url"].endswith(
            f"/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        )
        version = mlflow_client.get_model_version("ames-sale-price", str(got["registered_version"]))
        assert version.run_id == run.info.run_id
        assert got["model_uri"] == f"models:/ames-sale-price/{got['registered_version']}"
    champion = mlflow_client.get_model_version_by_alias("ames-sale-price", "champion")
    promoted = [
        metrics[m]["registered_version"] for m in MODELS if metrics[m]["promoted_to_champion"]
    ]
    assert max(promoted) == int(champion.version)  # the latest promotion holds the alias


@pytest.mark.e2e
def test_check_results_equal_the_instance(api, instance, graph, mlflow_client):
    results = {(r["asset"], r["check"]): r for r in api.check_results()}
    check_keys = list(graph.asset_check_keys)
    assert set(results) == {(k.asset_key.to_user_string(), k.name) for k in check_keys}
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    for key in check_keys:
        got = results[(key.asset_key.to_user_string(), key.name)]
        evaluation = records[key].event.asset_check_evaluation
        assert got["passed"] == evaluation.passed
        assert got["run_id"] == records[key].run_id
        assert got["severity"] == evaluation.severity.value
        assert got["metadata"] == {k: plain(v) for k, v in evaluation.metadata.items()}
    metrics = api.model_metrics()
    for model in MODELS:
        r2_check = results[(model, "test_r2_above_floor")]
        test_r2 = mlflow_client.get_run(metrics[model]["mlflow_run_id"]).data.metrics["test_r2"]
        assert r2_check["metadata"] == {"observed_r2": test_r2, "threshold": 0.85}
        assert r2_check["passed"] is (test_r2 >= 0.85)
        assert r2_check["status"] == "SUCCEEDED"
        assert r2_check["blocking"] is True
        first = results[(model, "rmse_not_worse_than_previous")]
        assert first["metadata"]["previous_rmse"] is None  # NaN on a first run: JSON null


@pytest.mark.e2e
def test_freshness_policies_of_the_valuations_and_models(api, instance):
    """Their policy fits the 2-minute schedule; this state has no freshness daemon, so no
    verdict yet (test_e2e's daemon gives one)."""
    freshness = api.freshness()
    assert set(freshness) == FRESH_ASSETS
    for key, state in freshness.items():
        assert (state["warn_after_seconds"], state["fail_after_seconds"]) == (360, 600)
        assert state["status"] == "UNKNOWN", key


@pytest.mark.e2e
def test_runs_equal_the_instance(api, instance):
    runs = api.runs(limit=10)
    records = instance.get_run_records(limit=10)
    assert [r["run_id"] for r in runs] == [rec.dagster_run.run_id for rec in records]
    for got, record in zip(runs, records, strict=True):
        assert got["status"] == record.dagster_run.status.value
        assert got["job"] == record.dagster_run.job_name
        assert datetime.fromisoformat(got["start_time"]).timestamp() == record.start_time
        assert datetime.fromisoformat(got["end_time"]).timestamp() == record.end_time
        assert got["duration_seconds"] == record.end_time - record.start_time
    assert runs[0]["status"] == "SUCCESS"
    assert api.run(runs[0]["run_id"]) == runs[0]
    with pytest.raises(UnknownNameError, match="unknown run id: no-such-run"):
        api.run("no-such-run")


@pytest.mark.e2e
def test_run_logs_are_the_last_events(api, instance, monkeypatch):
    run_id = api.runs(limit=1)[0]["run_id"]
    entries = instance.all_logs(run_id)

    def expected(entry):
        return {
            "level": logging.getLevelName(entry.level),
            "event_type": entry.dagster_event.event_type.name if entry.dagster_event else None,
            "step_key": entry.step_key,
            "message": entry.message,
        }

    def without_time(events):
        return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]

    last = api.run_logs(run_id, limit=7)
    assert without_time(last) == [expected(e) for e in entries[-7:]]
    # Paging: small pages give the same answer as one large page.
    monkeypatch.setattr(client_module, "LOG_PAGE_SIZE", 9)
    assert api.run_logs(run_id, limit=7) == last
    everything = api.run_logs(run_id, limit=100_000)
    assert without_time(everything) == [expected(e) for e in entries]
    assert everything[-7:] == last
    with pytest.raises(UnknownNameError, match="unknown run id: no-such-run"):
        api.run_logs("no-such-run")


@pytest.mark.e2e
def test_run_status_through_dagster_graphql_client(api):
    run_id = api.runs(limit=1)[0]["run_id"]
    assert api.run_status(run_id) == "SUCCESS"
    with pytest.raises(UnknownNameError, match="^unknown run id: no-such-run$"):
        api.run_status("no-such-run")


@pytest.mark.e2e
def test_schedule_state_and_next_tick(api):
    before = time.time()
    schedule = api.schedule()
    after = time.time()
    assert {k: schedule[k] for k in ("name", "job", "cron", "timezone", "status", "last_tick")} == {
        "name": "housing_pipeline_schedule",
        "job": "housing_pipeline",
        "cron": "*/2 * * * *",
        "timezone": "UTC",
        "status": "RUNNING",  # its default status; no daemon has ticked it
        "last_tick": None,
    }
    next_tick = datetime.fromisoformat(schedule["next_tick"]).timestamp()
    assert next_tick % 120 == 0
    assert before < next_tick <= after + 120
    with pytest.raises(UnknownNameError, match="unknown schedule: nope"):
        api.schedule("nope")


@pytest.mark.e2e
def test_every_cli_subcommand_prints_the_client_result(api, url, capsys):
    run_id = api.runs(limit=1)[0]["run_id"]
    assert cli_json(capsys, "--url", url, "assets") == api.assets()
    assert cli_json(capsys, "latest", "eda_report", "--url", url) == (
        api.latest_materializations(["eda_report"])
    )
    assert cli_json(capsys, "--url", url, "latest") == api.latest_materializations()
    assert cli_json(capsys, "--url", url, "metrics") == api.model_metrics()
    assert cli_json(capsys, "--url", url, "checks") == api.check_results()
    assert cli_json(capsys, "--url", url, "freshness") == api.freshness()
    assert cli_json(capsys, "--url", url, "runs", "--limit", "5") == api.runs(limit=5)
    assert cli_json(capsys, "--url", url, "run", run_id) == api.run(run_id)
    assert cli_json(capsys, "--url", url, "logs", run_id, "--limit", "3") == (
        api.run_logs(run_id, limit=3)
    )
    assert cli_json(capsys, "--url", url, "status", run_id) == {
        "run_id": run_id,
        "status": "SUCCESS",
    }
    schedule = cli_json(capsys, "--url", url, "schedule")
    assert schedule["status"] == "RUNNING" and schedule["cron"] == "*/2 * * * *"


@pytest.mark.e2e
def test_console_script_output_and_unknown_names(api, url):
    done = console("--url", url, "metrics")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api.model_metrics()
    done = console("--url", url, "latest", "no_such_asset")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: unknown asset(s): no_such_asset; known: ")
    done = console("--url", url, "logs", "no-such-run")
    assert (done.returncode, done.stderr) == (1, "error: unknown run id: no-such-run\n")
    done = console("--url", url, "launch", "no_such_asset")
    assert done.returncode == 1
    assert done.stderr.startswith("error: unknown asset(s): no_such_asset; known: ")
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_read_only_server_answers_queries_and_refuses_launches(api, servers):
    _, read_only_url = servers
    runs_before = api.runs()
    with HousingApi(read_only_url) as read_only:
        assert read_only.model_metrics() == api.model_metrics()
        assert read_only.runs() == runs_before
        with pytest.raises(
            LaunchRefusedError, match=r"read-only \(dagster-webserver --read-only\)"
        ):
            read_only.launch(["raw_housing"])
    done = console("--url", read_only_url, "launch")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"error: {read_only_url} refused to launch the run ")
    assert "Traceback" not in done.stderr
    assert api.runs() == runs_before  # nothing was launched


# -- launches last: they change the latest materialisations --------------------------------


@pytest.mark.e2e
def test_launch_a_selection_times_out_then_succeeds(api, instance):
    with pytest.raises(RunTimeoutError, match="still") as timed_out:
        api.launch(["raw_housing"], timeout=0)
    run_id = timed_out.value.run_id
    run = api.wait_for_run(run_id, timeout=RUN_TIMEOUT)
    assert (run["run_id"], run["status"], run["assets"]) == (run_id, "SUCCESS", ["raw_housing"])
    assert instance.get_run_by_id(run_id).status.value == "SUCCESS"
    latest = api.latest_materializations(["raw_housing", "cleaned_housing"])
    assert latest["raw_housing"]["run_id"] == run_id
    assert latest["cleaned_housing"]["run_id"] != run_id  # only the selection ran


@pytest.mark.e2e
def test_cli_launches_the_whole_job(api, mlflow_client, instance):
    done = console("--url", api.url, "launch", "--wait-timeout", str(RUN_TIMEOUT))
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["job"], run["status"], run["assets"]) == ("housing_pipeline", "SUCCESS", None)
    assert run["duration_seconds"] > 0
    latest = api.latest_materializations()
    # every asset but the drift reference, which the first run pinned and later runs keep
    pinned = latest.pop("drift_reference")
    assert pinned is not None and pinned["run_id"] != run["run_id"]
    assert {key: m["run_id"] for key, m in latest.items()} == dict.fromkeys(latest, run["run_id"])
    for model, got in api.model_metrics().items():
        assert got["run_id"] == run["run_id"]
        assert got["metrics"] == model_metrics_of(mlflow_client.get_run(got["mlflow_run_id"])), (
            model
        )
    # The second run of cleaned_housing compares with the reference the first one pinned: the
    # same data, so every PSI is 0, and the drift check reports the same values.
    import dagster as dg

    cleaned = latest["cleaned_housing"]["metadata"]
    event = instance.get_latest_materialization_event(dg.AssetKey("cleaned_housing"))
    drift = {k: v for k, v in cleaned.items() if k.startswith("drift_psi/")}
    assert drift, sorted(cleaned)
    assert drift == {
        k: v.value for k, v in event.asset_materialization.metadata.items() if k in drift
    }
    assert set(drift.values()) == {0.0}
    assert cleaned["drift_max_psi"] == 0.0
    (check,) = [
        c
        for c in api.check_results()
        if (c["asset"], c["check"]) == ("cleaned_housing", "no_drift_against_reference")
    ]
    assert (check["run_id"], check["passed"]) == (run["run_id"], True)
    assert {
        k.removeprefix("psi "): v for k, v in check["metadata"].items() if k.startswith("psi ")
    } == {k.removeprefix("drift_psi/"): v for k, v in drift.items()}
