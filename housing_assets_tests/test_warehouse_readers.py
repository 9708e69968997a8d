"""A SQL user never stops a run, and a run never shuts out a SQL user.

The runs write their own file; when a run ends, its copy replaces the users' one
(`warehouse.duckdb`) whole, by a rename. The readers here are real second processes with DuckDB's own locks.
"""

import json
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from housing_assets import settings
from housing_assets.definitions import defs
from housing_assets.lib.data.warehouse import ReplicaError, adopt_replica
from housing_assets.resources import HousingSource, Warehouse, WarehouseIOManager, warehouse
from housing_assets_tests.harness.readers import HOLDER, LOOPER, python


def test_readers_of_the_users_file_and_a_run_never_wait_for_each_other(
    tmp_path, ames_csv, golden_state, monkeypatch
):
    home = golden_state(tmp_path / "home")
    users_file = str(settings.warehouse_path(home))
    smaller = tmp_path / "smaller.csv"  # a good feed whose raw table differs from the published
    pd.read_csv(ames_csv, dtype=str, keep_default_na=False).head(2000).to_csv(smaller, index=False)

    holder = python(HOLDER, users_file, stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "2930"
    stop = tmp_path / "stop"
    looper = python(LOOPER, users_file, str(stop))
    assert looper.stdout.readline().strip() == "2930"

    monkeypatch.setenv("HOUSING_HOME", str(home))
    shared = warehouse(home)
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or ())],
        selection=["raw_housing", "cleaned_housing"],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            **defs.resources,
            "io_manager": WarehouseIOManager(warehouse=shared),
            "warehouse": shared,
            "source": HousingSource(location=str(smaller)),
        },
        raise_on_error=False,
    )
    stop.touch()
    seen = json.loads(looper.communicate(timeout=60)[0])
    holder_output, _ = holder.communicate("done\n", timeout=60)

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    # The held connection kept the copy it opened; it was never asked to let go.
    assert holder_output.split() == ["2930"] and holder.returncode == 0
    # Every open got in: during the run, the last run's tables; the copy is replaced when the
    # run ends, and from then on (the open after the stop, at least) the new ones.
    counts = seen["counts"]
    assert seen["errors"] == [] and counts.count(2930) >= 5
    assert set(counts) == {2930, 2000} and counts == sorted(counts, reverse=True)
    with duckdb.connect(users_file, read_only=True) as connection:
        assert connection.execute("select count(*) from housing.cleaned_housing").fetchone() == (
            2000,
        )
    # The runs' own file holds the same tables.
    with duckdb.connect(str(settings.pipeline_warehouse_path(home)), read_only=True) as c:
        assert c.execute("select count(*) from housing.raw_housing").fetchone() == (2000,)


def test_the_users_copy_is_replaced_when_stale_and_a_failed_copy_keeps_the_old(tmp_path):
    users = tmp_path / "warehouse.duckdb"
    shared = Warehouse(database=str(tmp_path / "pipeline" / "w.duckdb"), replica=str(users))
    (tmp_path / "pipeline").mkdir()
    shared.publish({"prices": pd.DataFrame({"PID": [1, 2], "price": [1.5, 2.5]})})
    assert not users.exists()  # a publish writes the runs' file only
    assert shared.publish_replica() and not shared.publish_replica()  # the second: unchanged
    with duckdb.connect(str(users), read_only=True) as connection:
        assert connection.execute("select * from housing.prices").fetchall() == [
            (1, 1.5),
            (2, 2.5),
        ]

    # A copy that cannot be made (its staging name is taken by a directory) names the file,
    # says the users' copy keeps the previous tables, and leaves it as it was.
    (tmp_path / "warehouse.duckdb.publishing").mkdir()
    shared.publish({"prices": pd.DataFrame({"PID": [3], "price": [3.5]})})
    with pytest.raises(ReplicaError) as error:
        shared.publish_replica()
    assert str(users) in str(error.value) and "still holds the previous tables" in str(error.value)
    with duckdb.connect(str(users), read_only=True) as connection:
        assert connection.execute("select count(*) from housing.prices").fetchone() == (2,)
    assert shared.read("prices")["PID"].tolist() == [3]


def test_a_state_from_before_the_runs_had_their_own_file_keeps_its_tables(tmp_path):
    users = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(users)) as connection:
        connection.execute("create schema housing")
        connection.execute("create table housing.drift_reference as select 42 as pinned")
    own = tmp_path / "pipeline" / "warehouse.duckdb"
    own.parent.mkdir()
    adopt_replica(own, users)
    assert Warehouse(database=str(own)).read("drift_reference")["pinned"].tolist() == [42]
    adopt_replica(own, Path(tmp_path / "absent.duckdb"))  # nothing to adopt, nothing replaced
    assert own.exists()


def test_the_users_copy_holds_no_staged_copy_a_killed_write_left(tmp_path):
    """A killed write leaves its staged copy in the runs' file; a state from before has an empty
    `housing_staging`. Neither reaches the users' copy, and the runs' file loses them too."""
    users = tmp_path / "warehouse.duckdb"
    shared = Warehouse(database=str(tmp_path / "pipeline" / "w.duckdb"), replica=str(users))
    (tmp_path / "pipeline").mkdir()
    shared.publish({"prices": pd.DataFrame({"PID": [1, 2]})})
    with shared.connection() as connection:
        connection.execute('create table housing."prices (staged)" as select 3 as "PID"')
        connection.execute('create table housing."eda_bins (staged)" as select 1 as bin')
        connection.execute("create schema housing_staging")
    assert shared.publish_replica()
    for path in (users, tmp_path / "pipeline" / "w.duckdb"):
        with duckdb.connect(str(path), read_only=True) as connection:
            tables = connection.execute(
                "select schema_name, table_name from duckdb_tables() order by 1, 2"
            ).fetchall()
            schemas = connection.execute("select schema_name from duckdb_schemas()").fetchall()
            assert tables == [("housing", "prices")], path
            assert ("housing_staging",) not in schemas and ("housing",) in schemas, path
            assert connection.execute("select * from housing.prices").fetchall() == [(1,), (2,)]


def test_a_schema_named_like_the_retired_staging_one_that_holds_tables_is_kept(tmp_path):
    users = tmp_path / "warehouse.duckdb"
    shared = Warehouse(database=str(tmp_path / "pipeline" / "w.duckdb"), replica=str(users))
    (tmp_path / "pipeline").mkdir()
    shared.publish({"prices": pd.DataFrame({"PID": [1]})})
    with shared.connection() as connection:
        connection.execute("create schema housing_staging")
        connection.execute("create table housing_staging.mine as select 4 as PID")
    assert shared.publish_replica()
    with duckdb.connect(str(users), read_only=True) as connection:
        assert connection.execute("select * from housing_staging.mine").fetchall() == [(4,)]
