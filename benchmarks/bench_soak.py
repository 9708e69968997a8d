"""Benchmark: a 1x whole-graph run on a state with a day of history against a fresh state.

A 2-minute schedule leaves, each day, 720 pipeline runs in the Dagster instance, 1,440
registered model versions and 2,160 MLflow runs (a parent run and one nested run per model).
A run must not slow down as that history grows: every per-run query is bounded.

Both states start from one real run (untimed). The day-old state is then seeded quickly, not
by real runs: each of the 720 Dagster runs gets a copy of the real run's event log (about 125
events: materialisations, check results, logs); each of the 720 MLflow parent runs gets two
nested runs with the real runs' params, metrics and tags, and each nested run a registered
version pointing at the real logged model. Seeding writes one SQLite commit per event, so it
runs on a copy of the state in memory (/dev/shm) that is then copied back. Then `dagster asset materialize --select '*'` runs
in a fresh process on each state in turn, `--repeats` times, and the medians are compared.

    .venv/bin/python benchmarks/bench_soak.py [--repeats 3] [--days 1]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_pipeline import MATERIALIZE, bench_env, run_measured

RUNS_PER_DAY = 720


def seed_dagster(dagster_home: Path, copies: int) -> int:
    """`copies` finished runs of housing_pipeline, each with the real run's event log."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    template = instance.get_runs(limit=1)[0]
    entries = [r.event_log_entry for r in instance.get_records_for_run(template.run_id).records]
    for _ in range(copies):
        run_id = str(uuid.uuid4())
        instance.add_run(
            dg.DagsterRun(
                job_name="housing_pipeline", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS,
                tags=template.tags,
            )
        )  # fmt: skip
        for entry in entries:
            instance.store_event(entry._replace(run_id=run_id))
    events = len(entries)
    instance.dispose()
    return events


def seed_mlflow(tracking_uri: str, copies: int) -> tuple[int, int]:
    """`copies` parent runs with two nested runs each, each nested run with a new version."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from housing_assets import settings

    # create_model_version resolves a models:/ source through the global tracking URI
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT)
    versions = client.search_model_versions(f"name = '{settings.REGISTERED_MODEL}'")
    templates = {v.tags["model_family"]: v for v in versions}
    runs = {family: client.get_run(v.run_id) for family, v in templates.items()}
    created_runs = created_versions = 0
    for _ in range(copies):
        parent = client.create_run(experiment.experiment_id, run_name="housing_pipeline")
        client.set_terminated(parent.info.run_id)
        created_runs += 1
        for family, template in templates.items():
            source = runs[family]
            child = client.create_run(
                experiment.experiment_id,
                run_name=source.info.run_name,
                tags={**source.data.tags, "mlflow.parentRunId": parent.info.run_id},
            )
            now = int(time.time() * 1000)
            client.log_batch(
                child.info.run_id,
                metrics=[Metric(k, v, now, 0) for k, v in source.data.metrics.items()],
                params=[Param(k, v) for k, v in source.data.params.items()],
                tags=[RunTag("model_family", family)],
            )
            client.set_terminated(child.info.run_id)
            version = client.create_model_version(
                settings.REGISTERED_MODEL, template.source, run_id=child.info.run_id,
                tags={k: v for k, v in template.tags.items() if k != "champion_decision"},
            )  # fmt: skip
            created_runs += 1
            created_versions += int(version.version) > 0
    return created_runs, created_versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()

    from housing_assets import settings

    source = settings.SHIPPED_SOURCE
    with tempfile.TemporaryDirectory(prefix="soak-") as root:
        homes = {"fresh": Path(root) / "fresh", "day-old": Path(root) / "day-old"}
        envs = {name: bench_env(home, source) for name, home in homes.items()}
        for env in envs.values():
            run_measured(MATERIALIZE, env)  # the untimed first run of each state
        started = time.perf_counter()
        copies = RUNS_PER_DAY * args.days
        old = homes["day-old"]
        memory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix="soak-seed-", dir=memory) as scratch:
            seeded = Path(scratch)
            shutil.copytree(old / "dagster", seeded / "dagster")
            shutil.copy2(old / "mlflow.db", seeded / "mlflow.db")
            mlflow_runs, versions = seed_mlflow(f"sqlite:///{seeded / 'mlflow.db'}", copies)
            events = seed_dagster(seeded / "dagster", copies)
            shutil.rmtree(old / "dagster")
            shutil.copytree(seeded / "dagster", old / "dagster")
            shutil.copy2(seeded / "mlflow.db", old / "mlflow.db")
        print(
            f"seeded {copies} Dagster runs x {events} events, {mlflow_runs} MLflow runs, "
            f"{versions} model versions in {time.perf_counter() - started:.0f} s"
        )
        walls: dict[str, list[float]] = {name: [] for name in homes}
        for _ in range(args.repeats):
            for name, env in envs.items():  # alternate, so drift in the machine hits both
                walls[name].append(run_measured(MATERIALIZE, env).wall)
        sizes = {name: (home / "mlflow.db").stat().st_size / 2**20 for name, home in homes.items()}
    fresh, old = (statistics.median(walls[n]) for n in ("fresh", "day-old"))
    print(f"1x whole-graph run, median of {args.repeats} (seconds)")
    print(f"{'state':<10}{'median':>9}{'runs':>30}{'mlflow.db MB':>14}")
    for name in homes:
        runs = ", ".join(f"{w:.1f}" for w in walls[name])
        print(f"{name:<10}{statistics.median(walls[name]):>9.1f}{runs:>30}{sizes[name]:>14.1f}")
    print(f"day-old / fresh: {old / fresh:.3f} (target <= 1.10)")
    sys.exit(0 if old / fresh <= 1.10 else 1)


if __name__ == "__main__":
    main()
