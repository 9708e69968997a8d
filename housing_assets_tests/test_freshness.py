"""Freshness on a stopped schedule: Dagster's own daemon says the valuations and the models are
stale once the schedule has stopped for longer than their policy allows.

A real `dagster-daemon` runs over a copy of the session's materialised state with the schedule
stopped, under `faketime` 15 minutes ahead (Debian's `faketime`; `.ci/run` installs it), so its
freshness daemon sees the last materialisations as 15 minutes old; a real webserver, on the
real clock, serves its verdict over GraphQL.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from housing_assets.api.client import HousingApi
from housing_assets.freshness import FAIL_AFTER
from housing_assets.processes import free_port, stop_group, wait_for
from housing_assets_tests.harness.env import child_env
from housing_assets_tests.harness.graph import FRESH_ASSETS
from housing_assets_tests.harness.webserver import (
    PROJECT_ROOT,
    start_webserver,
    wait_until_serving,
)

pytestmark = pytest.mark.e2e

AHEAD_MINUTES = 15
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def test_a_stopped_schedule_leaves_the_valuations_and_models_stale(tmp_path, golden_state):
    if shutil.which("faketime") is None:
        message = "needs Debian's faketime (.ci/run installs it)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    assert AHEAD_MINUTES * 60 > FAIL_AFTER.total_seconds()
    home = golden_state(tmp_path / "home")
    (home / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML)
    env = child_env(home, DAGSTER_HOME=str(home / "dagster"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    webserver = start_webserver(tmp_path / "webserver.log", port, env)
    daemon = None
    try:
        wait_until_serving(url, webserver, tmp_path / "webserver.log")
        bin_dir = Path(sys.executable).parent
        stopped = subprocess.run(
            [str(bin_dir / "dagster"), "schedule", "stop", "housing_pipeline_schedule",
             "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert stopped.returncode == 0, stopped.stderr[-2000:]
        with HousingApi(url) as api:
            assert api.schedule()["status"] == "STOPPED"
            before = api.freshness()
        assert set(before) == FRESH_ASSETS
        with open(tmp_path / "daemon.log", "w") as log:
            daemon = subprocess.Popen(
                ["faketime", "-f", f"+{AHEAD_MINUTES}m", str(bin_dir / "dagster-daemon"), "run",
                 "-w", "workspace.yaml"],
                cwd=PROJECT_ROOT, env={**env, "FRESHNESS_DAEMON_INTERVAL_SECONDS": "2"},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        with HousingApi(url) as api:

            def judged_stale():
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                found = api.freshness()
                return all(a["status"] == "DEGRADED" for a in found.values()) and found

            stale = wait_for(judged_stale, 120, "the freshness daemon to judge the state")
            assert set(stale) == FRESH_ASSETS
            # the stopped schedule launched nothing, whatever the daemon's clock said
            assert len(api.runs(limit=5)) == 1
    finally:
        for process in (daemon, webserver):
            if process is not None:
                stop_group(process)
