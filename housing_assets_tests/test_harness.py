"""The shared harness: copies of the golden state point at themselves, not at the golden;
empty MLflow stores are migrated copies; the suite runs in the order the conftest gives."""

import re
import sqlite3

import pytest
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.lib.state import table_columns
from housing_assets_tests.conftest import GOLDEN_HOME, PROJECT_ROOT, _holds_files
from housing_assets_tests.harness.mlflow_store import empty_store


def text_values_naming(database, path: str) -> int:
    with sqlite3.connect(database) as connection:
        found = sum(
            connection.execute(
                f'select count(*) from "{table}" where typeof("{column}") = \'text\' '
                f'and instr("{column}", ?) > 0',
                (path,),
            ).fetchone()[0]
            for table, column in table_columns(connection)
        )
    connection.close()
    return found


def test_a_copied_state_points_at_itself(golden_state, tmp_path):
    home = golden_state(tmp_path / "copy")
    golden = str(GOLDEN_HOME)
    assert text_values_naming(GOLDEN_HOME / "mlflow.db", golden) > 0  # the golden names itself
    assert text_values_naming(home / "mlflow.db", golden) == 0
    assert text_values_naming(home / "mlflow.db", str(home)) == text_values_naming(
        GOLDEN_HOME / "mlflow.db", golden
    )
    for model in (home / "mlartifacts").rglob("MLmodel"):
        assert golden not in model.read_text()
    client = MlflowClient(tracking_uri=f"sqlite:///{home}/mlflow.db")
    experiment = client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT)
    assert experiment.artifact_location.startswith((home / "mlartifacts").as_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    run = client.get_run(champion.run_id)
    assert run.info.artifact_uri.startswith((home / "mlartifacts").as_uri())


def test_every_suite_command_keeps_the_conftests_module_order():
    # Without --no-loadscope-reorder, xdist hands the modules out by their number of tests.
    commands = re.findall(r"^\t.*pytest .*$", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    parallel = [c for c in commands if " -n 2 " in c]
    assert len(parallel) == 2, commands  # make test and make test-fast
    assert all("--dist loadfile --no-loadscope-reorder" in c for c in parallel), parallel


def test_a_state_of_empty_directories_holds_no_files(tmp_path):
    (tmp_path / "pipeline" / "deeper").mkdir(parents=True)
    assert not _holds_files(tmp_path)
    (tmp_path / "pipeline" / "deeper" / "mlflow.db").write_bytes(b"")
    assert _holds_files(tmp_path)


def test_an_empty_store_is_migrated_and_never_replaces_one(tmp_path):
    uri = empty_store(tmp_path / "a")
    assert uri == f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert client.search_registered_models() == []
    experiment = client.create_experiment("mine")
    with sqlite3.connect(tmp_path / "a" / "mlflow.db") as connection:
        (version,) = connection.execute("select version_num from alembic_version").fetchone()
    connection.close()
    assert version  # MLflow's migrations have run: it opens the copy without running them
    with pytest.raises(FileExistsError, match="mlflow.db exists"):
        empty_store(tmp_path / "a")
    assert client.get_experiment(experiment).name == "mine"
    other = MlflowClient(tracking_uri=empty_store(tmp_path / "b"))
    assert [e.name for e in other.search_experiments()] == ["Default"]
