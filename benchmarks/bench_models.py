"""Benchmark: each model step as the asset runs it, beside one plain fit of its estimator.

A model step is `lib.ml.workflow.train_log_promote`, the function the model assets call: the
cross-fit (the model, its calibration folds and the backtest model, on both cores), the range
calibration, test scoring, MLflow logging (params, metrics, the valuation pyfunc with its
signature and input example, a registry version) and the champion decision (the champion
re-scored). A round is one run: its steps share the split's name, so as in a run the second
step reads the first one's figure for the champion instead of scoring it again. Beside each
step, in the same round, one plain `fit` of the family's own estimator on the training split.
The budget is a step at most 3x that fit. A warm-up round runs first so the SQLite store's
one-off migrations and the worker processes' start are not counted.

    .venv/bin/python benchmarks/bench_models.py [--repeats 5]
"""

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import mlflow
from mlflow.tracking import MlflowClient
from threadpoolctl import threadpool_limits

from housing_assets import settings
from housing_assets.assets.models import example_houses
from housing_assets.checks import model_gate
from housing_assets.lib.data.ingest import load_source
from housing_assets.lib.ml.families import FAMILIES
from housing_assets.lib.ml.split import split_sales
from housing_assets.lib.ml.workflow import train_log_promote
from housing_assets.lib.registry.champion import RegistryTarget
from housing_assets.lib.registry.store import ensure_experiment


def one_round(raw, uri: str, lock: Path) -> dict[str, float]:
    timings = {}
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    registry = RegistryTarget(settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS, lock)
    run = f"bench-{uuid.uuid4().hex}"
    for fam in FAMILIES.values():
        gate = model_gate(dg.AssetKey(fam.asset), None, [])
        started = time.perf_counter()
        split = split_sales(raw)
        with mlflow.start_run(run_name=f"bench-{fam.name}"):
            train_log_promote(
                fam.name, split, example_houses(raw), gate, client, registry, split_name=run
            )
        timings[fam.name] = time.perf_counter() - started
        started = time.perf_counter()
        with threadpool_limits(limits=1, user_api="openmp"):
            fam.build().fit(split.X_train, split.y_train)
        timings[f"{fam.name} plain fit"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    raw = load_source(str(settings.SHIPPED_SOURCE)).frame
    with tempfile.TemporaryDirectory() as home:
        uri = f"sqlite:///{Path(home) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(uri, "bench"))
        lock = Path(home) / "champion.lock"
        one_round(raw, uri, lock)  # warm-up: migrations, imports, worker processes
        rounds = [one_round(raw, uri, lock) for _ in range(args.repeats)]
    print(f"model steps (train, calibrate, backtest, log, decide), {args.repeats} repeats (s)")
    print(f"{'':<22}{'median':>9}{'min':>9}{'max':>9}")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"{name:<22}{statistics.median(values):>9.2f}{min(values):>9.2f}{max(values):>9.2f}")
    for fam in FAMILIES:
        ratios = [r[fam] / r[f"{fam} plain fit"] for r in rounds]
        print(f"{fam} step / plain fit: {statistics.median(ratios):.2f}x (budget 3x)")


if __name__ == "__main__":
    main()
