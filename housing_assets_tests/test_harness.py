"""The shared harness's copies of the golden state point at themselves, not at the golden."""

import sqlite3

from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.lib.state import table_columns
from housing_assets_tests.conftest import GOLDEN_HOME


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
