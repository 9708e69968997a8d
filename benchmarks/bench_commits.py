"""Benchmark: a 1x whole-graph run at two or more commits, side by side in one session.

"No more than N% slower than before" needs both sides measured on the same machine at the same
time: this machine's run time drifts by more than 5% over minutes. For each commit it checks
out a temporary git worktree and runs this environment's `dagster asset materialize -m
housing_assets.definitions --select '*'` from it (the worktree goes first on the import path),
each over its own state directory, warmed by one untimed run. Timed runs are interleaved, the
order reversed every round, and the medians of wall and CPU seconds are printed with each
commit's difference from the first. The commits must run on this environment's packages.

    .venv/bin/python benchmarks/bench_commits.py BEFORE AFTER [--repeats 5]
"""

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench_pipeline import MATERIALIZE, Measured, bench_env, run_measured

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+", help="git revisions; the first is the baseline")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    trees: list[tuple[Path, dict[str, str]]] = []
    figures: list[list[Measured]] = [[] for _ in args.commits]
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as root:
        try:
            for index, commit in enumerate(args.commits):
                tree = Path(root) / f"tree{index}"
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
                    check=True, capture_output=True,
                )  # fmt: skip
                env = bench_env(Path(root) / f"state{index}", tree / "data" / "AmesHousing.csv")
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
    print(f"1x whole-graph run, medians of {args.repeats} interleaved warm runs")
    for commit, runs in zip(args.commits, figures, strict=True):
        wall = statistics.median(run.wall for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        print(
            f"{commit:<14} wall {wall:6.2f} s ({100 * (wall / baseline - 1):+5.1f}%)  "
            f"cpu {cpu:6.2f} s"
        )


if __name__ == "__main__":
    main()
