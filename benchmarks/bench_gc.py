"""Benchmark: the collector tweak (`housing_assets/gc_freeze.py`) on and off, side by side.

A 1x whole-graph run (`dagster asset materialize --select '*'` in a fresh process) over one warm
state directory, alternating HOUSING_GC_FREEZE=1 and =0, `--repeats` times each; prints the
medians and the share of a run the tweak saves. It stays in the code location only if that
share is at least 5%.

    .venv/bin/python benchmarks/bench_gc.py [--repeats 3]
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_pipeline import bench_env, run_measured
from bench_soak import MATERIALIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from housing_assets import settings

    with tempfile.TemporaryDirectory(prefix="gc-") as root:
        env = bench_env(Path(root), settings.SHIPPED_SOURCE)
        run_measured(MATERIALIZE, env)  # the untimed first run
        walls: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(args.repeats):
            for state, flag in (("on", "1"), ("off", "0")):
                wall, _, _ = run_measured(MATERIALIZE, {**env, "HOUSING_GC_FREEZE": flag})
                walls[state].append(wall)
    on, off = (statistics.median(walls[s]) for s in ("on", "off"))
    print(f"1x whole-graph run, median of {args.repeats} (seconds)")
    for state in ("on", "off"):
        runs = ", ".join(f"{w:.2f}" for w in walls[state])
        print(f"gc freeze {state:<4}{statistics.median(walls[state]):>8.2f}   ({runs})")
    print(f"saved: {off - on:.2f} s = {(off - on) / off:.1%} of a run (keep if >= 5%)")


if __name__ == "__main__":
    main()
