"""`housing-dev`: the main command. Webserver, daemon and MLflow UI on 127.0.0.1, first run now.

`dagster dev` runs the webserver and the daemon (which runs the 2-minute schedule) against a
persistent instance under the state directory, so history survives a restart. The MLflow UI
is served next to it, so the run links in asset metadata open. As soon as the webserver
answers, a first run of the job is launched through the GraphQL API, so a new user sees
materialised assets within a minute rather than at the next schedule tick. Ctrl-C stops
every process this command started.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from housing_assets import settings

LOCATION_NAME = "housing_assets"
JOB_NAME = "housing_pipeline"
STARTUP_TIMEOUT_SECONDS = 180

DAGSTER_YAML = """\
# Written by housing-dev. The instance keeps runs, event logs and schedules under this folder.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # One run at a time: runs share the DuckDB file and move the champion alias, and a run
    # launched from the UI or the API is not covered by the schedule's in-flight guard.
    max_concurrent_runs: 1
# A run whose process died (OOM, SIGKILL) would stay STARTED forever and the schedule's
# in-flight guard would skip every tick; the default launcher cannot check a run's process,
# so the monitor ends any run after 30 minutes (a 100x run took about 10).
run_monitoring:
  enabled: true
  max_runtime_seconds: 1800
  poll_interval_seconds: 30
# Schedule and sensor ticks: 720 a day each. Runs are pruned by the prune_old_runs job.
retention:
  schedule:
    purge_after_days: 7
  sensor:
    purge_after_days:
      skipped: 1
      failure: 7
      success: 7
"""


def prepare_dagster_home() -> Path:
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def bin_path(name: str) -> str:
    """The console script next to this interpreter (the project's venv), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def wait_until_answers(url: str, timeout: float, processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a server exited while starting; see its log above ({url})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def launch_first_run(host: str, port: int) -> str:
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient(host, port_number=port)
    return client.submit_job_execution(
        JOB_NAME, repository_location_name=LOCATION_NAME, repository_name="__repository__"
    )


def _default_sigint() -> None:
    # A shell that starts us in the background ignores SIGINT, and children inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own process group, so stopping reaches each server's whole tree.
    return subprocess.Popen(
        command,
        env=env,
        cwd=settings.PROJECT_ROOT,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGINT (each server's graceful stop), then SIGKILL whatever is left after 20 s."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # stragglers: grpc servers, job runners
        except ProcessLookupError:
            pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="housing-dev", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument(
        "--mlflow-port", type=int, default=5000, help="MLflow UI port (default 5000)"
    )
    parser.add_argument("--no-first-run", action="store_true", help="only start the servers")
    args = parser.parse_args(argv)
    # Ctrl-C, and also SIGTERM or a SIGINT that a parent shell would otherwise ignore.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)

    # Links in asset metadata point at the UI started here (unless the store is a server).
    os.environ.setdefault("MLFLOW_UI_URL", f"http://{args.host}:{args.mlflow_port}")
    env = {**os.environ, "DAGSTER_HOME": str(prepare_dagster_home())}
    env["HOUSING_HOME"] = str(settings.state_dir())
    # MLflow 3's server starts background job consumers that poll the CPU; nothing here uses them.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    processes: list[subprocess.Popen] = []
    try:
        tracking_uri = settings.mlflow_tracking_uri()
        if not tracking_uri.startswith(("http://", "https://")):
            from housing_assets.lib.tracking import ensure_experiment

            ensure_experiment(tracking_uri, settings.MLFLOW_EXPERIMENT)  # runs migrations once
            processes.append(
                start(
                    [bin_path("mlflow"), "ui", "--backend-store-uri", tracking_uri,
                     "--host", args.host, "--port", str(args.mlflow_port), "--workers", "1"],
                    env,
                )
            )  # fmt: skip
        processes.append(
            start(
                [bin_path("dagster"), "dev", "-h", args.host, "-p", str(args.port),
                 "-w", str(settings.PROJECT_ROOT / "workspace.yaml")],
                env,
            )
        )  # fmt: skip
        wait_until_answers(
            f"http://{args.host}:{args.port}/server_info", STARTUP_TIMEOUT_SECONDS, processes
        )
        if not args.no_first_run:
            run_id = launch_first_run(args.host, args.port)
            print(f"Launched {JOB_NAME} run {run_id}", flush=True)  # noqa: T201
        print(  # noqa: T201
            f"Dagster UI: http://{args.host}:{args.port}   MLflow UI: {settings.mlflow_ui_url()}   "
            f"state: {settings.state_dir()}   (Ctrl-C stops everything)",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
