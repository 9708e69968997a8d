"""Benchmark: a whole-graph run at two or more commits, side by side in one session.

"No more than N% slower than before" needs both sides measured on the same machine at the same
time: this machine's run time drifts by more than 5% over minutes. For each commit it checks
out a temporary git worktree and runs this environment's `dagster asset materialize -m
housing_assets.definitions --select '*'` from it (the worktree goes first on the import path),
each over its own state directory, warmed by one untimed run. Timed runs are interleaved, the
order reversed every round, and the medians of wall and CPU seconds are printed with each
commit's difference from the first, then each step's median seconds (from the run's step
events). `--scale N` runs every commit on the same resampled source of N times the sales
(`lib.data.synthetic`, as `bench_pipeline.py` makes it). The commits must run on this
environment's packages.

    .venv/bin/python benchmarks/bench_commits.py BEFORE AFTER [--repeats 5] [--scale 100]
"""

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench_pipeline import MATERIALIZE, Measured, bench_env, run_measured, step_seconds

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+", help="git revisions; the first is the baseline")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1, help="times the sales of the shipped file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    trees: list[tuple[Path, dict[str, str]]] = []
    figures: list[list[Measured]] = [[] for _ in args.commits]
    steps: list[list[dict[str, float]]] = [[] for _ in args.commits]
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as root:
        source = None
        if args.scale > 1:
            from housing_assets import settings
            from housing_assets.lib.data.ingest import load_source
            from housing_assets.lib.data.synthetic import resample_housing, write_like_source

            source = Path(root) / f"ames_x{args.scale}.csv"
            shipped = load_source(str(settings.SHIPPED_SOURCE)).frame
            write_like_source(resample_housing(shipped, args.scale), source)
        try:
            for index, commit in enumerate(args.commits):
                tree = Path(root) / f"tree{index}"
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
                    check=True, capture_output=True,
                )  # fmt: skip
                env = bench_env(
                    Path(root) / f"state{index}", source or tree / "data" / "AmesHousing.csv"
                )
                env["PYTHONPATH"] = str(tree)
                trees.append((tree, env))
            for tree, env in trees:
                run_measured(MATERIALIZE, env, cwd=tree)  # the untimed first run creates the state
            for round_ in range(args.repeats):
                order = range(len(trees)) if round_ % 2 == 0 else reversed(range(len(trees)))
                for index in order:
                    tree, env = trees[index]
                    run = run_measured(MATERIALIZE, env, cwd=tree)
                    figures[index].append(run)
                    steps[index].append(step_seconds(Path(env["DAGSTER_HOME"]))[0])
                    print(
                        f"round {round_ + 1}: {args.commits[index]} wall {run.wall:.2f} s, "
                        f"cpu {run.cpu:.2f} s"
                    )
        finally:
            for tree, _ in trees:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                    check=False, capture_output=True,
                )  # fmt: skip
    baseline = statistics.median(run.wall for run in figures[0])
    print(f"{args.scale}x whole-graph run, medians of {args.repeats} interleaved warm runs")
    for commit, runs in zip(args.commits, figures, strict=True):
        wall = statistics.median(run.wall for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        print(
            f"{commit:<14} wall {wall:6.2f} s ({100 * (wall / baseline - 1):+5.1f}%)  "
            f"cpu {cpu:6.2f} s"
        )
    print("median seconds per step: " + " / ".join(args.commits))
    names = {name for runs in steps for run in runs for name in run}
    for step in sorted(names, key=lambda name: -steps[0][0].get(name, 0.0)):
        medians = [statistics.median(run.get(step, float("nan")) for run in runs) for runs in steps]
        print(f"  {step:<22} " + "  ".join(f"{m:6.2f}" for m in medians))


if __name__ == "__main__":
    main()
