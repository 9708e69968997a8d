"""Shared fixtures. Every test session runs against its own temporary state directory.

HOUSING_HOME is set before housing_assets.definitions is imported (its resources resolve
their paths at load time), so no test touches the developer's `.housing/`.
"""

import atexit
import fcntl
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

GOLDEN_ENV = "HOUSING_TESTS_GOLDEN"
SESSION_HOME = Path(tempfile.mkdtemp(prefix="housing-tests-"))
atexit.register(shutil.rmtree, SESSION_HOME, ignore_errors=True)
# One golden state per session, shared by pytest-xdist's workers: the controlling process
# imports this module before it starts them, and they inherit its environment. It alone
# removes the directory, after every worker has ended. Outside a worker, an inherited value
# (a stale shell variable, a pytest started by a test) is not trusted.
_shared = os.environ.get(GOLDEN_ENV)
if not (os.environ.get("PYTEST_XDIST_WORKER") and _shared and Path(_shared).is_dir()):
    os.environ[GOLDEN_ENV] = tempfile.mkdtemp(prefix="housing-golden-")
    atexit.register(shutil.rmtree, os.environ[GOLDEN_ENV], ignore_errors=True)
GOLDEN_ROOT = Path(os.environ[GOLDEN_ENV])
GOLDEN_HOME = GOLDEN_ROOT / "state"
os.environ["HOUSING_HOME"] = str(SESSION_HOME)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("HOUSING_SOURCE", None)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AMES_CSV = PROJECT_ROOT / "data" / "AmesHousing.csv"


@pytest.fixture(scope="session")
def ames_csv() -> Path:
    return AMES_CSV


@pytest.fixture(scope="session")
def raw_frame():
    from housing_assets.lib.data.ingest import load_source

    return load_source(str(AMES_CSV)).frame


@pytest.fixture(scope="session")
def cleaned_frame(raw_frame):
    from housing_assets.lib.data.cleaning import clean_housing

    return clean_housing(raw_frame).frame


class GoldenRun(NamedTuple):
    run_id: str
    success: bool


@pytest.fixture(scope="session")
def pipeline_run():
    """The housing_pipeline job, run once per session on the real data (in process), as
    (GoldenRun, the DagsterInstance holding the run) on this worker's SESSION_HOME.

    The first worker to ask runs it and copies its state to GOLDEN_HOME; a worker that asks
    later, with no file in its own state yet, gets a copy of that instead of a run of its
    own. `golden_state` hands out further copies to tests that need a state of their own to
    change.
    """
    import dagster as dg

    from housing_assets.lib.state import copy_state

    with (GOLDEN_ROOT / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits for the one run
        done = GOLDEN_ROOT / "run_id"
        if done.exists() and not _holds_files(SESSION_HOME):
            # Earlier tests of this worker may have left empty directories, nothing more.
            shutil.rmtree(SESSION_HOME)
            copy_state(GOLDEN_HOME, SESSION_HOME)
            instance = dg.DagsterInstance.local_temp(str(SESSION_HOME / "dagster"))
            run_id = done.read_text()
            return GoldenRun(run_id, instance.get_run_by_id(run_id).is_success), instance
        result, instance = _run_the_pipeline()
        if not done.exists():
            shutil.rmtree(GOLDEN_HOME, ignore_errors=True)  # a copy a failed worker left
            copy_state(SESSION_HOME, GOLDEN_HOME)
            done.write_text(result.run_id)
        return GoldenRun(result.run_id, result.success), instance


def _holds_files(directory: Path) -> bool:
    return any(path.is_file() or path.is_symlink() for path in directory.rglob("*"))


def _run_the_pipeline():
    import dagster as dg
    import mlflow

    from housing_assets.definitions import defs

    store = SESSION_HOME / "mlflow.db"
    if store.exists():
        with sqlite3.connect(store) as connection:
            models = connection.execute("select count(*) from registered_models").fetchone()[0]
        connection.close()
        assert models == 0, (
            f"{store} already holds {models} registered model(s) before the session's golden "
            "run: a test that registers into the session's store must depend on pipeline_run"
        )
    (SESSION_HOME / "dagster").mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(SESSION_HOME / "dagster"))
    result = defs.resolve_job_def("housing_pipeline").execute_in_process(instance=instance)
    assert result.success
    assert mlflow.active_run() is None, "the MLflow hook must end the Dagster run's MLflow run"
    return result, instance


@pytest.fixture(scope="session")
def golden_state(pipeline_run):
    """`golden_state(destination)`: a copy of the session's materialised state (every asset
    materialised once from the real data, one run in its Dagster storage), at `destination`."""
    from housing_assets.lib.state import copy_state

    return lambda destination: copy_state(GOLDEN_HOME, Path(destination))


@pytest.fixture(autouse=True)
def _reset_mlflow_globals():
    """Tests that point MLflow elsewhere must not leak that into the next test."""
    yield
    import mlflow

    from housing_assets import settings

    while mlflow.active_run() is not None:
        mlflow.end_run()
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which settings (and every child
    # process) would then read as the session's store: drop it, then point MLflow back.
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri())
    os.environ.pop("MLFLOW_TRACKING_URI", None)


# The order pytest-xdist hands the modules out in (`--dist loadfile --no-loadscope-reorder`
# in the Makefile; without the second flag xdist orders modules by their number of tests).
# A worker takes its next module when at most 2 of its tests are left, so the first four go
# two to a worker:
# 1. e2e (a wait for the schedule's tick) then the deploy test (servers started and waited
#    for) on one worker; the README's commands (whole runs, one after the other) then the
#    module that makes the golden state on the other, so the long modules overlap and none
#    ends the session alone;
# 2. the modules that need no golden state, which a worker runs instead of waiting for the
#    golden run's lock;
# 3. the rest, which find the golden state made.
FIRST_MODULES = (
    "test_e2e.py", "test_readme_commands.py", "test_deploy.py", "test_models.py",
    "test_freshness.py",
)  # fmt: skip
GOLDEN_FIXTURES = {"pipeline_run", "golden_state"}


def pytest_collection_modifyitems(config, items):
    golden = {item.path.name for item in items if GOLDEN_FIXTURES & set(item.fixturenames)}

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        if name in FIRST_MODULES:
            return 0, FIRST_MODULES.index(name)
        return (2, 0) if name in golden else (1, 0)

    items.sort(key=rank)
