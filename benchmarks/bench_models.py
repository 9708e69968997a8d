"""Benchmark: both price models trained, scored and logged to MLflow, as the model assets do.

Prints the median, min and max over N repetitions of what a model asset does: split, fit (as a
scheduled run does, no tuning), test scoring, range calibration and the backtest, and MLflow
logging (params, metrics, the valuation pyfunc with signature and input example, registry
version, champion re-scored and decision) for both models together. A warm-up round runs
first so the SQLite store's one-off migrations are not counted.

    .venv/bin/python benchmarks/bench_models.py [--repeats 5]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import mlflow
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.assets.models import INTERVAL_LEVEL, example_houses
from housing_assets.checks import blocking_failures, model_check_results, model_check_specs
from housing_assets.lib.data.cleaning import clean_housing
from housing_assets.lib.data.ingest import load_source
from housing_assets.lib.ml.modeling import split_housing, train_and_score
from housing_assets.lib.ml.valuation import build_valuation
from housing_assets.lib.registry.tracking import (
    Challenger,
    ensure_experiment,
    log_valuation_model,
    register_decision,
)


def train_score_log(cleaned, uri: str, lock: Path) -> dict[str, float]:
    timings = {}
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for family in ("linear", "boosted"):
        started = time.perf_counter()
        split = split_housing(cleaned)
        with mlflow.start_run(run_name=f"bench-{family}"):
            trained = train_and_score(family, split)
            valuation = build_valuation(trained.estimator, split, trained.test_predictions)
            metrics = {**trained.metrics, **valuation.metrics}
            mlflow.log_params(trained.params)
            mlflow.log_metrics(metrics)
            info = log_valuation_model(
                valuation.model, example_houses(cleaned), settings.REGISTERED_MODEL
            )
        key = dg.AssetKey(f"{family}_price_model")
        results = model_check_results(key, metrics, trained.test_predictions, None, INTERVAL_LEVEL)
        gate = tuple(r.check_name for r in blocking_failures(model_check_specs(key), results))
        challenger = Challenger(
            str(info.registered_model_version), family, trained.metrics["test_rmse"], gate
        )
        register_decision(
            client,
            settings.REGISTERED_MODEL,
            settings.CHAMPION_ALIAS,
            challenger,
            split.X_test,
            split.y_test,
            lock_path=lock,
            families=("linear", "boosted"),
        )
        timings[family] = time.perf_counter() - started
    timings["both"] = sum(timings.values())
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cleaned = clean_housing(load_source(str(settings.SHIPPED_SOURCE)).frame).frame
    with tempfile.TemporaryDirectory() as home:
        uri = f"sqlite:///{Path(home) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(uri, "bench"))
        lock = Path(home) / "champion.lock"
        train_score_log(cleaned, uri, lock)  # warm-up: migrations, imports
        runs = [train_score_log(cleaned, uri, lock) for _ in range(args.repeats)]
    print(f"models: train + score + log, {args.repeats} repeats (seconds)")
    print(f"{'model':<10}{'median':>9}{'min':>9}{'max':>9}")
    for family in ("linear", "boosted", "both"):
        values = [run[family] for run in runs]
        print(
            f"{family:<10}{statistics.median(values):>9.2f}{min(values):>9.2f}{max(values):>9.2f}"
        )


if __name__ == "__main__":
    main()
