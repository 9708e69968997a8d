"""Time the latest-metrics query through the GraphQL API: sequential latency and concurrency.

Budgets (issue 6): over 200 sequential `HousingApi.model_metrics()` calls, p50 <= 150 ms and
p95 <= 400 ms; 8 concurrent clients of 50 calls each finish with no errors. A timed pytest would
be flaky on a shared 2-core machine, so the figures are measured here and reported with the
machine's load. Each call is a full round trip: HTTP POST, GraphQL resolution against the
instance's SQLite event log, JSON decoding and the client's metadata conversion.

The webserver is either one already running (--url), or one this script starts on a free
loopback port over a state directory where the graph has been materialised (--home, default
$HOUSING_HOME or .housing/), and stops at the end.

Usage: .venv/bin/python benchmarks/bench_api.py [--home DIR | --url URL] [--calls 200]
       [--clients 8] [--per-client 50]
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from housing_assets import settings
from housing_assets.api import HousingApi, HousingApiError
from housing_assets.processes import free_port, start_group, stop_group

P50_BUDGET_MS = 150.0
P95_BUDGET_MS = 400.0
WARMUP_CALLS = 5
STARTUP_TIMEOUT_SECONDS = 240


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def start_webserver(home: Path) -> tuple[subprocess.Popen, str]:
    if not (home / "dagster").is_dir():
        raise SystemExit(f"{home}/dagster does not exist: materialise the graph there first")
    port = free_port()
    env = {**os.environ, "HOUSING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    log = tempfile.NamedTemporaryFile(
        "w", prefix="bench-api-webserver-", suffix=".log", delete=False
    )
    process = start_group(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
         "-p", str(port), "-w", str(settings.PROJECT_ROOT / "workspace.yaml")],
        env, cwd=settings.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    api = HousingApi(url, timeout=5)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the webserver exited; see {log.name}")
        try:
            if api.assets():
                return process, url
        except HousingApiError:
            time.sleep(0.5)
    stop_group(process)
    raise SystemExit(f"{url} did not answer within {STARTUP_TIMEOUT_SECONDS} s; see {log.name}")


def timed_calls(url: str, calls: int) -> tuple[list[float], list[str]]:
    """Milliseconds per call, and the error messages, for `calls` sequential calls."""
    latencies, errors = [], []
    with HousingApi(url) as api:
        for _ in range(calls):
            start = time.perf_counter()
            try:
                metrics = api.model_metrics()
                if not all(m and m["metrics"] for m in metrics.values()):
                    errors.append(f"a model without metrics: {metrics}")
            except HousingApiError as exc:
                errors.append(str(exc))
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies, errors


def summary(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
        f"max {max(latencies):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="an already running webserver")
    target.add_argument(
        "--home", type=Path, help="materialised state dir (default $HOUSING_HOME or .housing/)"
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=50)
    args = parser.parse_args()

    process = None
    url = args.url
    if url is None:
        process, url = start_webserver((args.home or settings.state_dir()).resolve())
    try:
        timed_calls(url, WARMUP_CALLS)
        print(f"webserver {url}; cpus {os.cpu_count()}, load average before: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        sequential, errors = timed_calls(url, args.calls)
        print(f"sequential, {args.calls} calls of model_metrics(): {summary(sequential)}; "
              f"errors {len(errors)}")  # fmt: skip

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            results = list(pool.map(timed_calls, [url] * args.clients,
                                    [args.per_client] * args.clients))  # fmt: skip
        wall = time.perf_counter() - start
        concurrent = [ms for latencies, _ in results for ms in latencies]
        concurrent_errors = [e for _, errs in results for e in errs]
        total = args.clients * args.per_client
        print(f"concurrent, {args.clients} clients x {args.per_client} calls: {len(concurrent)}"
              f"/{total} done in {wall:.1f} s ({total / wall:.1f} calls/s), errors "
              f"{len(concurrent_errors)}; per call {summary(concurrent)}")  # fmt: skip
        for message in sorted(set(errors + concurrent_errors))[:5]:
            print(f"  error: {message}")
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if process is not None:
            stop_group(process)

    within = (
        percentile(sequential, 50) <= P50_BUDGET_MS
        and percentile(sequential, 95) <= P95_BUDGET_MS
        and not errors
        and not concurrent_errors
        and len(concurrent) == total
    )
    print(f"budget (p50 <= {P50_BUDGET_MS:.0f} ms, p95 <= {P95_BUDGET_MS:.0f} ms, no errors): "
          f"{'met' if within else 'NOT met'}")  # fmt: skip
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
