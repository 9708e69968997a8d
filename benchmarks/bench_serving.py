"""Benchmark: MLflow's scoring server with the champion, against two floors.

Materialises the graph in a temporary state (or uses `--home`), then serves one after the
other, each with `mlflow models serve --env-manager local` (one worker):
- the champion (`models:/ames-sale-price@champion`): the valuation pyfunc, one house in the
  source file's format per request, answered with estimate, low and high;
- the do-nothing floor: a pyfunc that returns a constant per row (no signature), sent the same
  one-house request: what the server itself costs;
- the booster floor: the same fitted booster logged as a plain sklearn-flavour model, one house
  as the feature row it reads per request, answered with a single estimate.
All three run at once. The 200 sequential requests go to the servers in turns of 20 (20 to
each, then the next round), so a noisy minute on the machine falls on all of them alike, and
each turn after the first request finds its server warm; then each
gets 8 concurrent clients x 50 requests, one server after the other. Latencies are
milliseconds per request (nearest-rank percentiles). Targets: champion p50 at most 3x the
do-nothing floor's; no errors.

    .venv/bin/python benchmarks/bench_serving.py [--home DIR]
"""

import argparse
import json
import math
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pandas as pd
import requests
from bench_pipeline import MATERIALIZE, bench_env, run_measured

from housing_assets import settings
from housing_assets.processes import answers, free_port, start_group, stop_group, wait_for
from housing_assets.serving import scoring_server_command, scoring_server_env

SEQUENTIAL = 200
BLOCK = 20  # sequential requests to one server before the next server's turn
CLIENTS, PER_CLIENT = 8, 50
PLAIN_MODEL = "bench-plain-booster"
DO_NOTHING_MODEL = "bench-do-nothing"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def log_plain_booster(tracking_uri: str) -> tuple[str, dict]:
    """The champion's fitted booster as a plain sklearn model; returns its URI and one row."""
    import mlflow

    from housing_assets.lib.data.ingest import load_source
    from housing_assets.lib.ml.split import split_sales
    from housing_assets.lib.registry.store import log_sklearn_model

    mlflow.set_tracking_uri(tracking_uri)
    champion = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    estimator = champion.unwrap_python_model().estimator
    split = split_sales(load_source(str(settings.SHIPPED_SOURCE)).frame)
    mlflow.set_experiment("bench-serving")
    with mlflow.start_run():
        info = log_sklearn_model(estimator, split.X_train, PLAIN_MODEL)
    row = json.loads(split.X_test.head(1).to_json(orient="records"))[0]
    return f"models:/{PLAIN_MODEL}/{info.registered_model_version}", row


class DoNothing(mlflow.pyfunc.PythonModel):
    """Returns 0.0 per row: the cost of the server and the request, with no model behind it."""

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"estimate": [0.0] * len(model_input)})


def log_do_nothing(tracking_uri: str) -> str:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("bench-serving")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=DoNothing(), registered_model_name=DO_NOTHING_MODEL,
            pip_requirements=[f"mlflow=={mlflow.__version__}"],
        )  # fmt: skip
    return f"models:/{DO_NOTHING_MODEL}/{info.registered_model_version}"


def serve(model_uri: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = start_group(
        scoring_server_command(port=port, model_uri=model_uri), scoring_server_env(env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(f"{url}/ping"), 180, f"the scoring server for {model_uri}", 0.5)
    return process, url


def timed_request(session: requests.Session, url: str, body: dict) -> tuple[float, bool]:
    started = time.perf_counter()
    answer = session.post(f"{url}/invocations", json=body, timeout=30)
    return (time.perf_counter() - started) * 1000, answer.status_code != 200


def timed_requests(url: str, record: dict, count: int) -> tuple[list[float], int]:
    latencies, errors = [], 0
    with requests.Session() as session:
        for _ in range(count):
            ms, failed = timed_request(session, url, {"dataframe_records": [record]})
            latencies.append(ms)
            errors += failed
    return latencies, errors


def measure(servers: dict[str, tuple[str, dict]]) -> dict[str, dict]:
    """`servers`: name -> (url, record). Sequential requests in rounds over the servers, then
    the concurrent clients against each server alone."""
    figures = {name: {"sequential": [], "errors": 0} for name in servers}
    sessions = {name: requests.Session() for name in servers}
    for url, record in servers.values():
        timed_requests(url, record, 10)  # warm-up
    for _ in range(SEQUENTIAL // BLOCK):
        for name, (url, record) in servers.items():
            for _ in range(BLOCK):
                ms, failed = timed_request(sessions[name], url, {"dataframe_records": [record]})
                figures[name]["sequential"].append(ms)
                figures[name]["errors"] += failed
    for name, (url, record) in servers.items():
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(
                pool.map(
                    lambda _, u=url, r=record: timed_requests(u, r, PER_CLIENT), range(CLIENTS)
                )
            )
        figures[name]["concurrent"] = [ms for latencies, _ in results for ms in latencies]
        figures[name]["errors"] += sum(e for _, e in results)
    for session in sessions.values():
        session.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a materialised state directory to use")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serving-") as root:
        home = args.home or Path(root)
        env = bench_env(home, settings.SHIPPED_SOURCE)
        if args.home is None:
            run_measured(MATERIALIZE, env)
        tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        plain_uri, feature_row = log_plain_booster(tracking_uri)
        nothing_uri = log_do_nothing(tracking_uri)
        house = pd.read_csv(settings.SHIPPED_SOURCE, nrows=1, dtype=str, keep_default_na=False)
        raw_record = json.loads(house.to_json(orient="records"))[0]
        processes, servers = [], {}
        try:
            for name, uri, record in (
                ("floor: do-nothing pyfunc", nothing_uri, raw_record),
                ("floor: plain booster", plain_uri, feature_row),
                (
                    "champion: valuation pyfunc",
                    f"models:/{settings.REGISTERED_MODEL}@champion",
                    raw_record,
                ),
            ):
                process, url = serve(uri, env)
                processes.append(process)
                servers[name] = (url, record)
            figures = measure(servers)
        finally:
            for process in processes:
                stop_group(process)
    floor = percentile(figures["floor: plain booster"]["sequential"], 50)
    print(
        f"one house per request, milliseconds ({SEQUENTIAL} sequential; {CLIENTS} x {PER_CLIENT} concurrent)"
    )
    print(
        f"{'server':<30}{'p50':>8}{'p95':>8}{'max':>8}{'conc p50':>10}{'conc p95':>10}{'conc max':>10}{'errors':>8}"
    )
    for name, f in figures.items():
        seq, conc = f["sequential"], f["concurrent"]
        print(
            f"{name:<30}{percentile(seq, 50):>8.1f}{percentile(seq, 95):>8.1f}{max(seq):>8.1f}"
            f"{percentile(conc, 50):>10.1f}{percentile(conc, 95):>10.1f}{max(conc):>10.1f}"
            f"{f['errors']:>8}"
        )
    champion = figures["champion: valuation pyfunc"]["sequential"]
    nothing = percentile(figures["floor: do-nothing pyfunc"]["sequential"], 50)
    print(
        f"champion p50 / do-nothing p50: {percentile(champion, 50) / nothing:.2f} (target <= 3); "
        f"champion p50 / booster p50: {percentile(champion, 50) / floor:.2f}; "
        f"champion p95 / booster p50: {percentile(champion, 95) / floor:.2f}"
    )


if __name__ == "__main__":
    main()
