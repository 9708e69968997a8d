"""End to end: the main command's webserver and daemon, and the schedule launching the job.

Starts `housing-dev` (dagster dev: webserver + daemon, plus the MLflow UI) over a temporary
state directory, waits for the 2-minute schedule to launch a run, and asserts what the run
did: success, every asset materialised, every check evaluated. Then Ctrl-C (SIGINT) must
stop every process it started.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from housing_assets.api.client import HousingApi
from housing_assets.freshness import FAIL_AFTER, WARN_AFTER
from housing_assets.processes import answers, free_port, wait_for
from housing_assets_tests.harness.env import child_env
from housing_assets_tests.harness.graph import ASSETS, FRESH_ASSETS
from housing_assets_tests.harness.readers import HOLDER, python

pytestmark = pytest.mark.e2e

CHECKS_PER_ASSET = {
    "raw_housing": 5, "cleaned_housing": 4, "linear_price_model": 4, "boosted_price_model": 4,
    "price_estimates": 2, "price_reasons": 2, "price_comparables": 2, "ratio_study": 9,
}  # fmt: skip


def process_tree(root: int) -> set[int]:
    output = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in output.splitlines():
        pid, ppid = map(int, line.split())
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-home")
    port, mlflow_port = free_port(), free_port()
    # The freshness daemon evaluates every 30 s by default; every 2 s here, so the test sees
    # its verdict on the scheduled run soon after it ends.
    env = child_env(home, FRESHNESS_DAEMON_INTERVAL_SECONDS="2")
    # The users' copy of the warehouse an earlier run left, with an empty raw table, so a SQL
    # user can hold it open from before the scheduled run.
    with duckdb.connect(str(home / "warehouse.duckdb")) as connection:
        connection.execute("create schema housing")
        connection.execute("create table housing.raw_housing as select 1 as PID where false")
    log = (home / "housing-dev.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "housing-dev"), "--no-first-run",
         "--port", str(port), "--mlflow-port", str(mlflow_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/server_info"), 240, "the webserver")
        yield home, port, mlflow_port, server
    finally:
        # housing-dev starts each server in a session of its own: stop the whole tree, even
        # when a test failed before Ctrl-C was tested.
        tree = process_tree(server.pid)
        if server.poll() is None:
            os.kill(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def test_schedule_runs_the_whole_graph(dev_server):
    home, port, mlflow_port, _ = dev_server
    assert answers(f"http://127.0.0.1:{mlflow_port}/"), "the MLflow UI is served alongside"
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    scheduled = dg.RunsFilter(
        job_name="housing_pipeline", tags={"dagster/schedule_name": "housing_pipeline_schedule"}
    )
    with HousingApi(f"http://127.0.0.1:{port}") as api:
        before = api.freshness()
    assert set(before) == FRESH_ASSETS
    # A SQL user holds the users' copy open from before the scheduled run until after it.
    users_file = home / "warehouse.duckdb"
    holder = python(HOLDER, str(users_file), stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "0"
    runs = wait_for(lambda: instance.get_runs(filters=scheduled), 150, "a scheduled run")
    run_id = runs[-1].run_id
    finished = wait_for(
        lambda: (r := instance.get_run_by_id(run_id)) and r.is_finished and r, 420, "the run to end"
    )
    held, _ = holder.communicate("done\n", timeout=60)
    assert finished.status == dg.DagsterRunStatus.SUCCESS, (home / "housing-dev.log").read_text()[
        -3000:
    ]
    # The held connection kept its copy; one opened after the run reads the run's tables.
    assert held.split() == ["0"] and holder.returncode == 0
    with duckdb.connect(str(users_file), read_only=True) as connection:
        assert connection.execute("select count(*) from housing.raw_housing").fetchone() == (2930,)

    materialized = {
        record.asset_key.to_user_string()
        for record in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in [record.event_log_entry.dagster_event]
    }
    assert materialized == ASSETS
    evaluations = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    per_asset: dict[str, int] = {}
    for record in evaluations:
        data = record.event_log_entry.dagster_event.event_specific_data
        per_asset[data.asset_key.to_user_string()] = (
            per_asset.get(data.asset_key.to_user_string(), 0) + 1
        )
    assert per_asset == CHECKS_PER_ASSET
    # The freshness daemon judges the valuations and the models by their policy: fresh now.
    with HousingApi(f"http://127.0.0.1:{port}") as api:

        def judged_fresh():
            found = api.freshness()
            return all(a["status"] == "HEALTHY" for a in found.values()) and found

        fresh = wait_for(judged_fresh, 60, "the freshness daemon to judge the run")
    assert {a["warn_after_seconds"] for a in fresh.values()} == {WARN_AFTER.total_seconds()}
    assert {a["fail_after_seconds"] for a in fresh.values()} == {FAIL_AFTER.total_seconds()}
    # the schedule is RUNNING by default, and the instance persists under the state directory
    assert (home / "dagster" / "dagster.yaml").exists()
    assert (home / "warehouse.duckdb").exists() and (home / "reports" / "eda_report.html").exists()


def test_ctrl_c_stops_everything(dev_server):
    _, port, _, server = dev_server
    tree = process_tree(server.pid)
    assert len(tree) > 3, "housing-dev, the MLflow UI and dagster dev's processes"
    os.kill(server.pid, signal.SIGINT)
    server.wait(timeout=60)
    alive = lambda: {p for p in tree if Path(f"/proc/{p}").exists()}  # noqa: E731
    wait_for(lambda: not alive(), 30, f"processes {alive()} to exit")
    assert not answers(f"http://127.0.0.1:{port}/server_info")
