"""Benchmark: the whole graph from the CLI at 1x, 10x and 100x the real data.

For each scale and repetition it runs `dagster asset materialize --select '*'` in a fresh
process over a fresh state directory and records the wall time, the time of each asset (from
the run's step events), the peak RSS of the run process and the rows processed. Pair by pair
with each run it times the plain floor (`plain_floor.py`: the core work as a plain script, no
project code) and reports the ratio (budget 3.5x at 1x), and each scale's time against this
session's 1x time (budget 2.5x at 100x). Larger data comes from `housing_assets.lib.data.synthetic`
(real rows resampled with small noise, fresh PIDs), written under the state directory and
given to the run through HOUSING_SOURCE. Finally it measures the cost of a scheduled tick
when the source is unchanged (the schedule skips it). Medians are printed and the raw
figures are written to `<state>/benchmarks/pipeline.json`.

    .venv/bin/python benchmarks/bench_pipeline.py [--scales 1 10 100] [--repeats 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

BIN = Path(sys.executable).parent
MATERIALIZE = [str(BIN / "dagster"), "asset", "materialize", "-m", "housing_assets.definitions",
               "--select", "*"]  # fmt: skip


class Measured(NamedTuple):
    wall: float  # seconds
    rss_mb: float  # peak resident memory
    cpu: float  # user + system seconds
    output: str  # stdout and stderr


def run_measured(command: list[str], env: dict[str, str], cwd: Path | None = None) -> Measured:
    """Wall and CPU seconds and peak RSS of one fresh process, and its output."""
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return Measured(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, output)


def step_seconds(dagster_home: Path) -> tuple[dict[str, float], int]:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
    run = instance.get_runs(limit=1)[0]
    steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)}
    raw = instance.get_latest_materialization_event(dg.AssetKey("raw_housing"))
    rows = raw.asset_materialization.metadata["dagster/row_count"].value
    instance.dispose()
    return steps, rows


def unchanged_tick_milliseconds(home: Path, source: Path, repeats: int = 20) -> float:
    """Run the job once as the schedule does, then time the evaluation of an unchanged tick."""
    from housing_assets.automation import CODE_VERSION_TAG, code_version

    env = bench_env(home, source)
    # The schedule skips only after a whole-graph run of this code version (its tag) succeeded.
    tags = json.dumps({CODE_VERSION_TAG: code_version()})
    run_measured([str(BIN / "dagster"), "job", "execute", "-m", "housing_assets.definitions",
                  "-j", "housing_pipeline", "--tags", tags], env)  # fmt: skip
    code = (
        "import time, statistics, dagster as dg\n"
        "from housing_assets.automation import housing_pipeline_schedule as s\n"
        "i = dg.DagsterInstance.get()\n"
        "t = []\n"
        f"for _ in range({repeats}):\n"
        "    a = time.perf_counter(); r = s.evaluate_tick(dg.build_schedule_context(instance=i))\n"
        "    t.append(time.perf_counter() - a)\n"
        "assert r.skip_message and 'unchanged' in r.skip_message, r\n"
        "print(statistics.median(t) * 1000)\n"
    )
    output = run_measured([sys.executable, "-c", code], env).output
    return float(output.strip().splitlines()[-1])


def bench_env(home: Path, source: Path) -> dict[str, str]:
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOUSING_HOME": str(home), "HOUSING_SOURCE": str(source)}
    env["DAGSTER_HOME"] = str(home / "dagster")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from housing_assets import settings
    from housing_assets.lib.data.ingest import load_source
    from housing_assets.lib.data.synthetic import resample_housing, write_like_source

    root = settings.state_dir() / "benchmarks"
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for scale in args.scales:
        source = settings.SHIPPED_SOURCE
        if scale > 1:
            source = root / f"ames_x{scale}.csv"
            write_like_source(
                resample_housing(load_source(str(settings.SHIPPED_SOURCE)).frame, scale), source
            )
        # One state directory per scale, as the schedule has: a first (untimed) run creates the
        # MLflow store (migrations), the instance and the drift reference; then fresh processes
        # are timed over that warm state.
        home = root / f"x{scale}"
        shutil.rmtree(home, ignore_errors=True)
        env = bench_env(home, source)
        first_wall = run_measured(MATERIALIZE, env).wall
        print(f"x{scale} first run (creates the state): {first_wall:.1f} s", flush=True)
        for repeat in range(args.repeats):
            wall, rss, _, _ = run_measured(MATERIALIZE, env)
            steps, rows = step_seconds(home / "dagster")
            ref_wall, ref_rss, _, _ = run_measured(
                [sys.executable, str(Path(__file__).with_name("plain_floor.py")),
                 "--source", str(source)],
                env,
            )  # fmt: skip
            results.append(
                {"scale": scale, "repeat": repeat, "rows": rows, "wall_s": wall,
                 "peak_rss_mb": rss, "steps_s": steps, "reference_wall_s": ref_wall,
                 "reference_peak_rss_mb": ref_rss, "ratio": wall / ref_wall,
                 "first_run_wall_s": first_wall}
            )  # fmt: skip
            print(
                f"x{scale} run {repeat}: {wall:.1f} s, {rss:.0f} MB, reference {ref_wall:.1f} s",
                flush=True,
            )
        shutil.rmtree(home, ignore_errors=True)
        (root / "pipeline.json").write_text(json.dumps({"runs": results}, indent=2))
    tick_home = root / "tick"
    shutil.rmtree(tick_home, ignore_errors=True)
    tick_ms = unchanged_tick_milliseconds(tick_home, settings.SHIPPED_SOURCE)
    shutil.rmtree(tick_home, ignore_errors=True)

    print(
        f"\nmedians of {args.repeats} runs; full graph via `dagster asset materialize --select '*'`"
    )
    header = (
        f"{'scale':>6}{'rows':>9}{'wall s':>8}{'peak MB':>9}{'floor s':>8}{'ratio':>7}{'/1x':>6}"
        "  per asset (s)"
    )
    print(header)
    one_x = [r["wall_s"] for r in results if r["scale"] == 1]
    for scale in args.scales:
        runs = [r for r in results if r["scale"] == scale]

        def med(key, runs=runs):
            return statistics.median(r[key] for r in runs)

        steps = {k: statistics.median(r["steps_s"][k] for r in runs) for k in runs[0]["steps_s"]}
        per_asset = ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
        versus_1x = med("wall_s") / statistics.median(one_x) if one_x else float("nan")
        print(f"{scale:>5}x{runs[0]['rows']:>9}{med('wall_s'):>8.1f}{med('peak_rss_mb'):>9.0f}"
              f"{med('reference_wall_s'):>8.1f}{med('ratio'):>7.2f}{versus_1x:>6.2f}"
              f"  {per_asset}")  # fmt: skip
    print(f"unchanged-source tick (schedule evaluation, skipped): {tick_ms:.1f} ms")
    out = root / "pipeline.json"
    out.write_text(json.dumps({"runs": results, "unchanged_tick_ms": tick_ms}, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
