"""Faults: a bad feed, a dead URL or a killed run lose nothing (write-audit-publish).

Against one materialised state (real DuckDB file, real MLflow SQLite store, in-process runs),
each bad feed must fail the run, record its failed checks with the observed values, and leave
every warehouse table (by content hash), the registry's versions and the champion as they were.
"""

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.definitions import defs
from housing_assets.lib.data.warehouse import STAGED_SUFFIX
from housing_assets.lib.ml.families import FAMILIES
from housing_assets.resources import (
    FitWorkers,
    HousingSource,
    MlflowTracking,
    ModelSplit,
    WarehouseIOManager,
    warehouse,
)
from housing_assets_tests.harness.env import child_env
from housing_assets_tests.harness.errors import step_error
from housing_assets_tests.harness.http_sources import serve
from housing_assets_tests.harness.warehouse import staged_tables

SCHEMA = "housing"


def resources_for(home: Path, location: str) -> dict:
    shared = warehouse(home)
    return {
        "io_manager": WarehouseIOManager(warehouse=shared),
        "warehouse": shared,
        "source": HousingSource(location=location, deadline_seconds=3),
        "fit_workers": FitWorkers(),
        "model_split": ModelSplit(),
        "mlflow": MlflowTracking(
            experiment_name="housing_assets",
            tracking_uri=f"sqlite:///{home}/mlflow.db",
        ),
    }


def table_fingerprints(home: Path, users_copy: bool = False) -> dict[str, tuple]:
    """Row count and an order-independent hash of the contents of every published table (in
    the runs' file, or with `users_copy` in the copy users query)."""
    database = (
        settings.warehouse_path(home) if users_copy else settings.pipeline_warehouse_path(home)
    )
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [SCHEMA],
            ).fetchall()
        ]
        return {
            table: conn.execute(
                f'select count(*), sum(hash(t)) from {SCHEMA}."{table}" t'
            ).fetchone()
            for table in sorted(tables)
        }


def registry_state(home: Path) -> tuple[int, str]:
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    versions = client.search_model_versions(f"name = '{settings.REGISTERED_MODEL}'")
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion").version
    return len(versions), champion


def ames_text(ames_csv: Path, edit=None) -> str:
    frame = pd.read_csv(ames_csv, dtype=str, keep_default_na=False)
    return (edit(frame) if edit else frame).to_csv(index=False)


def same_pid(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.head(1500).copy()
    frame["PID"] = frame["PID"].iloc[0]
    return frame


def negative_living_areas(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[:40], "Gr Liv Area"] = "-5"
    return frame


# name -> (how the file is made from the good one, failed check, its observed value)
BAD_FEEDS = {
    "header-only": (lambda f: f.head(0), "enough_rows", 0),
    "one-pid-for-1500-rows": (same_pid, "unique_pid", 1500),
    "first-300-rows": (lambda f: f.head(300), "enough_rows", 300),
    "40-negative-living-areas": (negative_living_areas, "areas_non_negative", 40),
}


@pytest.fixture(scope="module")
def materialised(tmp_path_factory, ames_csv, golden_state):
    """A state with every asset materialised from the good file (a copy of the session's)."""
    home = golden_state(tmp_path_factory.mktemp("faults") / "home")
    source = home / "AmesHousing.csv"
    source.write_text(ames_text(ames_csv))
    return home, source, dg.DagsterInstance.ephemeral(), defs.resolve_job_def("housing_pipeline")


def run_against(materialised, monkeypatch, location: str, selection=None):
    """The pipeline job against `location`; with `selection`, those assets and their checks."""
    home, _, instance, job = materialised
    monkeypatch.setenv("HOUSING_HOME", str(home))
    if selection is None:
        return job.execute_in_process(
            instance=instance, resources=resources_for(home, location), raise_on_error=False
        )
    return materialize_selection(home, location, selection, instance)


def materialize_selection(home: Path, location: str, selection, instance):
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or ())],
        selection=selection,
        instance=instance,
        resources={**defs.resources, **resources_for(home, location)},
        raise_on_error=False,
    )


# Every asset that writes a warehouse table: the whole graph but the model assets, which
# write none (price_estimates prices with the champion already registered).
TABLE_ASSETS = [
    key for key in defs.resolve_asset_graph().get_all_asset_keys()
    if key.to_user_string() not in {fam.asset for fam in FAMILIES.values()}
]  # fmt: skip


@pytest.mark.parametrize("feed", list(BAD_FEEDS))
def test_a_feed_that_breaks_a_rule_changes_nothing(materialised, monkeypatch, ames_csv, feed):
    home, _, instance, _ = materialised
    edit, check, observed = BAD_FEEDS[feed]
    tables, registry = table_fingerprints(home), registry_state(home)
    assert {"raw_housing", "cleaned_housing", "encoded_housing", "drift_reference"} <= set(tables)
    assert any(t.startswith("eda_") for t in tables)
    bad = home / f"{feed}.csv"
    bad.write_text(ames_text(ames_csv, edit))

    result = run_against(materialised, monkeypatch, str(bad))

    assert not result.success
    assert table_fingerprints(home) == tables, "a bad feed must not replace any table"
    assert registry_state(home) == registry, "nor register a version or move the champion"
    materialised_keys = {
        e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization
    }
    assert materialised_keys == set()
    # the failed check is stored with its observed value, and the run's error names it
    stored = [
        record.dagster_event.event_specific_data
        for record in instance.all_logs(
            result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    failed = {e.check_name: e for e in stored if not e.passed}
    assert set(failed) == {check}
    assert failed[check].metadata["observed"].value == observed
    assert failed[check].blocking
    message = step_error(result)
    assert "raw_housing failed 1 blocking check(s)" in message
    assert f"{check} (observed {observed}, threshold" in message


def test_a_binary_file_changes_nothing(materialised, monkeypatch):
    home = materialised[0]
    tables, registry = table_fingerprints(home), registry_state(home)
    binary = home / "export.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 100)
    result = run_against(materialised, monkeypatch, str(binary))
    assert not result.success
    assert f"Source {binary} is not a CSV file" in step_error(result)
    assert table_fingerprints(home) == tables
    assert registry_state(home) == registry


def test_a_url_that_resets_changes_nothing(materialised, monkeypatch):
    home = materialised[0]
    tables, registry = table_fingerprints(home), registry_state(home)
    with serve("reset") as url:
        result = run_against(materialised, monkeypatch, url)
    assert not result.success
    assert f"Source {url} could not be downloaded" in step_error(result)
    assert table_fingerprints(home) == tables
    assert registry_state(home) == registry


def test_the_next_good_feed_publishes_again(materialised, monkeypatch):
    home, source, _, _ = materialised
    before = table_fingerprints(home)
    result = run_against(materialised, monkeypatch, str(source), TABLE_ASSETS)
    assert result.success
    published = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    # every table was rebuilt from the good feed, but the drift reference, which stays pinned
    assert set(before) - published == {"drift_reference"}
    after = table_fingerprints(home)
    # the same rows give the same tables (the EDA's tables are deterministic too)
    assert after == before
    assert staged_tables(settings.pipeline_warehouse_path(home)) == [], "no staged copy is left"


# Runs the real job in a child process that SIGKILLs itself inside the swap transaction of
# cleaned_housing: after the published table was dropped, before its staged copy is renamed
# in its place and the transaction commits.
KILL_INSIDE_SWAP = textwrap.dedent(
    """
    import os, signal, sys
    import housing_assets.resources as resources
    from housing_assets.lib.data import warehouse

    class KillBeforeCommit:
        def __init__(self, connection):
            self._connection = connection
        def execute(self, query, *args):
            if query.startswith("ALTER TABLE") and "cleaned_housing" in query:
                os.kill(os.getpid(), signal.SIGKILL)
            return self._connection.execute(query, *args)
        def __getattr__(self, name):
            return getattr(self._connection, name)

    def publish(connection, schema, tables):
        return warehouse.publish_tables(KillBeforeCommit(connection), schema, tables)

    resources.publish_tables = publish
    from housing_assets.definitions import defs
    import dagster as dg
    defs.resolve_job_def("housing_pipeline").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    """
)


def run_child(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )


def test_a_run_killed_while_a_table_is_staged_leaves_the_published_one(
    tmp_path, ames_csv, golden_state, monkeypatch
):
    home = golden_state(tmp_path / "home")
    env = child_env(home, HOUSING_SOURCE=str(ames_csv))
    before = table_fingerprints(home)

    smaller = tmp_path / "smaller.csv"  # a good feed whose tables differ from the published ones
    smaller.write_text(ames_text(ames_csv, lambda f: f.head(2000)))
    killed = run_child(KILL_INSIDE_SWAP, {**env, "HOUSING_SOURCE": str(smaller)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert staged_tables(settings.pipeline_warehouse_path(home)) == [
        f"{SCHEMA}.cleaned_housing{STAGED_SUFFIX}"
    ]

    after_kill = table_fingerprints(home)
    assert after_kill["cleaned_housing"] == before["cleaned_housing"]
    assert after_kill["raw_housing"][0] == 2000  # raw passed its audit and was published
    for table in set(before) - {"raw_housing"}:
        assert after_kill[table] == before[table], table
    # The users' copy is made when a run ends: the killed one left them the last run's tables.
    assert table_fingerprints(home, users_copy=True) == before

    # The rerun rebuilds what the kill touched: raw_housing (published from the smaller feed)
    # and cleaned_housing (whose swap was killed). The rest of the graph after a good feed is
    # test_the_next_good_feed_publishes_again's.
    monkeypatch.setenv("HOUSING_HOME", str(home))
    rerun = materialize_selection(
        home, str(ames_csv), ["raw_housing", "cleaned_housing"], dg.DagsterInstance.ephemeral()
    )
    assert rerun.success
    assert table_fingerprints(home) == before
    assert table_fingerprints(home, users_copy=True) == before
    assert staged_tables(settings.pipeline_warehouse_path(home)) == [], "the staged copy is gone"
    assert staged_tables(settings.warehouse_path(home)) == []


def test_a_champion_whose_files_are_gone_names_the_fix_and_registers_nothing(
    tmp_path, ames_csv, golden_state, monkeypatch
):
    home = golden_state(tmp_path / "home")
    monkeypatch.setenv("HOUSING_HOME", str(home))
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    versions, champion = registry_state(home)
    files = client.get_model_version_download_uri(settings.REGISTERED_MODEL, champion)
    shutil.rmtree(files.removeprefix("file://"))
    models = [fam.asset for fam in FAMILIES.values()]

    failed = materialize_selection(home, str(ames_csv), models, dg.DagsterInstance.ephemeral())
    assert not failed.success
    message = step_error(failed)
    assert f"Could not load {settings.REGISTERED_MODEL} v{champion}" in message
    assert files.removeprefix("file://") in message  # what is missing
    assert "housing-dev --reset-champion" in message  # and the fix
    assert registry_state(home) == (versions, champion), "no version was registered"

    reset = subprocess.run(
        [str(Path(sys.executable).with_name("housing-dev")), "--reset-champion"],
        env=child_env(home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr[-2000:]
    assert f"(was v{champion})" in reset.stdout

    # the next model that passes its checks becomes champion
    recovered = materialize_selection(
        home, str(ames_csv), ["boosted_price_model"], dg.DagsterInstance.ephemeral()
    )
    assert recovered.success
    after_versions, after_champion = registry_state(home)
    assert after_versions == versions + 1 and int(after_champion) == versions + 1


def files_of(home: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in home.rglob("*")
        if p.is_file()
    }


def test_a_restored_backup_runs_on_its_own_path(tmp_path, ames_csv, golden_state, monkeypatch):
    """`housing-dev --backup` then `--restore` elsewhere: the restored state runs the graph and
    writes nothing to the original or the backup."""
    from housing_assets_tests.test_harness import text_values_naming

    original = golden_state(tmp_path / "original")
    backup, restored = tmp_path / "backup", tmp_path / "restored"
    dev = str(Path(sys.executable).with_name("housing-dev"))
    for home, argument in (
        (original, ["--backup", str(backup)]),
        (restored, ["--restore", str(backup)]),
    ):
        done = subprocess.run(
            [dev, *argument], env=child_env(home), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
    untouched = {home: files_of(home) for home in (original, backup)}

    monkeypatch.setenv("HOUSING_HOME", str(restored))
    models = [fam.asset for fam in FAMILIES.values()]
    result = materialize_selection(
        restored, str(ames_csv), ["raw_housing", *models], dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert {home: files_of(home) for home in (original, backup)} == untouched
    for old in (original, backup):
        assert text_values_naming(restored / "mlflow.db", str(old)) == 0
    client = MlflowClient(f"sqlite:///{restored}/mlflow.db")
    (newest,) = client.search_model_versions(
        f"name = '{settings.REGISTERED_MODEL}'", max_results=1, order_by=["version_number DESC"]
    )
    assert (
        client.get_model_version_download_uri(settings.REGISTERED_MODEL, newest.version)
        .removeprefix("file://")
        .startswith(str(restored))
    )
