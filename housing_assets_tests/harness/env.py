"""The environment of a process a test starts: its own state directory and nothing else's.

MLflow's `set_tracking_uri` exports MLFLOW_TRACKING_URI into the test process's environment, so
a child process that inherited it would track into the session's store (and could move its
champion) whatever its HOUSING_HOME says.
"""

import os
from pathlib import Path

NOT_INHERITED = (
    "MLFLOW_TRACKING_URI", "HOUSING_SOURCE", "HOUSING_SUBJECTS", "HOUSING_API_TOKEN", "DAGSTER_HOME",
    "HOUSING_TESTS_GOLDEN",
)  # fmt: skip


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return {**env, "HOUSING_HOME": str(home), **extra}
