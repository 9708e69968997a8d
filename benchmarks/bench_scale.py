"""Benchmark: one whole-graph run at a large scale, with each step's time and peak memory.

`bench_pipeline.py` gives the run's peak RSS; this finds the step that sets it. It writes the
resampled source (`lib.data.synthetic`, as bench_pipeline does), raises the source's size cap
by run config when the file is larger than the default, runs `dagster asset materialize
--select '*'` once on a fresh state while sampling the run process's RSS every 0.1 s, and
prints each step's status, seconds, RSS at its start and its peak. A step that fails is
printed as failed (the run's exit status is printed too); the earlier tables stay published.

    .venv/bin/python benchmarks/bench_scale.py --scale 1000 [--memory-limit-gb 21]
"""

import argparse
import json
import resource
import shutil
import subprocess
import time

from bench_pipeline import MATERIALIZE, bench_env


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument(
        "--memory-limit-gb", type=float, default=21.0,
        help="address-space limit of the run (ulimit -v), so a runaway step fails, not the machine",
    )  # fmt: skip
    args = parser.parse_args()

    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from housing_assets import settings
    from housing_assets.lib.data.ingest import MAX_SOURCE_BYTES, load_source
    from housing_assets.lib.data.synthetic import resample_housing, write_like_source

    root = settings.state_dir() / "benchmarks"
    root.mkdir(parents=True, exist_ok=True)
    source = root / f"ames_x{args.scale}.csv"
    if not source.exists():
        raw = load_source(str(settings.SHIPPED_SOURCE)).frame
        write_like_source(resample_housing(raw, args.scale), source)
    home = root / f"scale_x{args.scale}"
    shutil.rmtree(home, ignore_errors=True)
    env = bench_env(home, source)
    command = list(MATERIALIZE)
    if source.stat().st_size > MAX_SOURCE_BYTES:
        cap = {"resources": {"source": {"config": {"max_bytes": 2 * source.stat().st_size}}}}
        command += ["--config-json", json.dumps(cap)]
    limit = int(args.memory_limit_gb * 1024**3)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    samples: list[tuple[float, float]] = []
    started = time.time()
    with open(home / "run.log", "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limited
        )
        while process.poll() is None:
            samples.append((time.time(), rss_mb(process.pid)))
            time.sleep(0.1)
    wall = time.time() - started
    print(f"x{args.scale}: exit {process.returncode}, {wall:.1f} s, "
          f"peak RSS {max(r for _, r in samples):.0f} MB (log: {home / 'run.log'})")  # fmt: skip
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    run = instance.get_runs(limit=1)[0]
    print(f"{'step':<24}{'status':>9}{'s':>8}{'start MB':>10}{'peak MB':>9}")
    for step in instance.get_run_step_stats(run.run_id):
        end = step.end_time or time.time()
        inside = [r for t, r in samples if step.start_time <= t <= end] or [0.0]
        before = [r for t, r in samples if t < step.start_time] or [0.0]
        status = step.status.value if step.status else "?"
        print(f"{step.step_key:<24}{status:>9}{end - step.start_time:>8.1f}"
              f"{before[-1]:>10.0f}{max(inside):>9.0f}")  # fmt: skip
    instance.dispose()


if __name__ == "__main__":
    main()
