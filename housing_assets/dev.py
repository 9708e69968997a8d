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
from pathlib import Path

from housing_assets import settings
from housing_assets.api import HousingApi
from housing_assets.processes import start_group, stop_groups, wait_until_answers
from housing_assets.serving import DEFAULT_PORT, scoring_server_command, scoring_server_env
from housing_assets.settings import is_url

STARTUP_TIMEOUT_SECONDS = 180
DEV_INSTANCE_YAML = settings.PROJECT_ROOT / "deploy" / "dagster.dev.yaml"


def prepare_dagster_home() -> Path:
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(DEV_INSTANCE_YAML, config)
    return home


def bin_path(name: str) -> str:
    """The console script next to this interpreter (the project's venv), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return start_group(command, env, cwd=settings.PROJECT_ROOT)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def reset_the_champion() -> None:
    from mlflow.tracking import MlflowClient

    from housing_assets.lib.registry.champion import reset_champion

    uri = settings.mlflow_tracking_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = reset_champion(client, settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS)
    name = f"{settings.REGISTERED_MODEL}@{settings.CHAMPION_ALIAS}"
    if version is None:
        print(f"{name} is not set in {uri}: nothing to reset", flush=True)  # noqa: T201
    else:
        print(f"Cleared {name} (was v{version}) in {uri}; the versions stay", flush=True)  # noqa: T201


def copy_the_state(backup: str | None, restore: str | None) -> None:
    """A backup or restore of the state directory (`lib.state.copy_state`): the copy's stores
    and model files name the copy, so nothing is written back to the original."""
    from housing_assets.lib.state import copy_state

    state = settings.state_dir()
    source, destination = (state, Path(backup)) if backup else (Path(restore), state)
    if not source.is_dir():
        raise SystemExit(f"housing-dev: {source} is not a state directory")
    if destination.exists():
        raise SystemExit(f"housing-dev: {destination} already exists; choose a new directory")
    copy_state(source, destination)
    print(f"Copied {source} to {destination}", flush=True)  # noqa: T201


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="housing-dev", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument(
        "--mlflow-port", type=int, default=5000, help="MLflow UI port (default 5000)"
    )
    parser.add_argument("--no-first-run", action="store_true", help="only start the servers")
    parser.add_argument(
        "--serve-model",
        action="store_true",
        help="also start MLflow's scoring server for the champion (after the first run)",
    )
    parser.add_argument(
        "--model-port",
        type=int,
        default=DEFAULT_PORT,
        help=f"scoring server port (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--reset-champion",
        action="store_true",
        help="clear the champion alias (its versions stay) and exit: the next model that "
        "passes its checks becomes champion; the fix for a champion whose files are gone",
    )
    parser.add_argument(
        "--backup",
        metavar="DIR",
        help="copy the state directory to DIR (a new directory) and exit; with no run in flight",
    )
    parser.add_argument(
        "--restore",
        metavar="DIR",
        help="make the state directory (which must not exist yet) a copy of the backup DIR, "
        "pointing at itself, and exit",
    )
    args = parser.parse_args(argv)
    if args.reset_champion:
        reset_the_champion()
        return
    if args.backup or args.restore:
        copy_the_state(args.backup, args.restore)
        return
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
        if not is_url(tracking_uri):
            from housing_assets.lib.registry.store import ensure_experiment

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
        url = f"http://{args.host}:{args.port}"
        try:
            wait_until_answers(f"{url}/server_info", STARTUP_TIMEOUT_SECONDS, processes)
        except (TimeoutError, RuntimeError) as error:
            raise SystemExit(str(error)) from error
        if not args.no_first_run:
            with HousingApi(url) as api:
                run = api.launch(wait=False)
                print(f"Launched {settings.JOB_NAME} run {run['run_id']}", flush=True)  # noqa: T201
                if args.serve_model:  # the server needs a champion when it starts
                    api.wait_for_run(run["run_id"], timeout=STARTUP_TIMEOUT_SECONDS * 5)
        if args.serve_model:
            processes.append(
                start(scoring_server_command(args.host, args.model_port), scoring_server_env(env))
            )
            print(  # noqa: T201
                f"Scoring server: http://{args.host}:{args.model_port}/invocations", flush=True
            )
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
        # SIGINT: each server's graceful stop.
        stop_groups(processes, signal.SIGINT)


if __name__ == "__main__":
    main()
