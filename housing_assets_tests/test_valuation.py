"""Valuations: the batch asset with the current champion, and MLflow's scoring server.

Both run on the session's materialised state (real DuckDB file, real MLflow SQLite store); the
scoring server is a real `mlflow models serve` process.
"""

import json

import dagster as dg
import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.assets.valuation import price_estimates
from housing_assets.processes import answers, free_port, start_group, stop_group, wait_for
from housing_assets.resources import MlflowTracking, SubjectsSource, warehouse
from housing_assets.serving import scoring_server_command, scoring_server_env


def price(subjects: str | None = None):
    return dg.materialize(
        [price_estimates, dg.SourceAsset("raw_housing")],
        resources={
            "subjects": SubjectsSource(location=subjects),
            "mlflow": MlflowTracking(),
            "warehouse": warehouse(),
            "io_manager": _io_manager(),
        },
        raise_on_error=False,
    )


def _io_manager():
    from housing_assets.resources import WarehouseIOManager

    return WarehouseIOManager(warehouse=warehouse())


def estimates_table() -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        return connection.execute("select * from housing.price_estimates").fetchdf()


def test_the_pipeline_prices_the_test_split_beside_the_sale_prices(pipeline_run):
    _, instance = pipeline_run
    table = estimates_table()
    client = MlflowClient(settings.mlflow_tracking_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    assert len(table) == 879 and table["PID"].is_unique
    assert (table["model_version"] == int(champion.version)).all()
    assert (table["champion_alias"] == "champion").all()
    assert (table["low"] < table["estimate"]).all() and (table["estimate"] < table["high"]).all()
    inside = (table["sale_price"] >= table["low"]) & (table["sale_price"] <= table["high"])
    event = instance.get_latest_materialization_event(dg.AssetKey("price_estimates"))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["interval_coverage"] == pytest.approx(inside.mean())
    assert meta["champion_version"] == int(champion.version)
    assert meta["rmse"] == pytest.approx(
        np.sqrt(np.mean((table["estimate"] - table["sale_price"]) ** 2))
    )


def test_after_a_promotion_the_new_champion_prices(pipeline_run):
    client = MlflowClient(settings.mlflow_tracking_uri())
    name = settings.REGISTERED_MODEL
    champion = client.get_model_version_by_alias(name, "champion").version
    other = next(
        v.version
        for v in client.search_model_versions(f"name = '{name}'")
        if str(v.version) != str(champion)
    )
    client.set_registered_model_alias(name, "champion", str(other))
    try:
        assert price().success
        assert set(estimates_table()["model_version"]) == {int(other)}
    finally:
        client.set_registered_model_alias(name, "champion", str(champion))
    assert price().success
    assert set(estimates_table()["model_version"]) == {int(champion)}


def test_the_champion_states_its_input_columns_and_checks_them_itself(pipeline_run, ames_csv):
    """No input schema for MLflow to enforce column by column: the columns are in the model's
    metadata, and the model itself drops the columns it does not know and names a missing one
    (over HTTP: `test_bad_requests_get_a_4xx_naming_the_problem`)."""
    from housing_assets.lib.data.columns import AMES_COLUMNS
    from housing_assets.lib.ml.ranges import ValuationInputError
    from housing_assets.lib.ml.valuation import REQUIRED_COLUMNS

    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    assert model.metadata.get_input_schema() is None
    assert [p.name for p in model.metadata.get_params_schema().params] == [
        "level", "explain", "comparables"
    ]  # fmt: skip
    assert model.metadata.metadata == {
        "input_columns": list(AMES_COLUMNS), "required_columns": list(REQUIRED_COLUMNS)
    }  # fmt: skip
    houses = pd.DataFrame(house_records(ames_csv, rows=2))
    expected = model.predict(houses)
    unused = houses.drop(columns=["Order", "SalePrice"]).assign(**{"Listing Agent": "x"})
    pd.testing.assert_frame_equal(model.predict(unused), expected, check_exact=True)
    with pytest.raises(ValuationInputError, match=r"lacks 1 required column\(s\): Lot Area"):
        model.predict(houses.drop(columns=["Lot Area"]))
    twice = pd.concat([houses, houses[["Lot Area"]]], axis=1)
    with pytest.raises(ValuationInputError, match=r"names column\(s\) twice: Lot Area"):
        model.predict(twice)
    # A list where one category belongs, for one house and for more than a few (pandas'
    # factorize path of the cleaning); the good houses of the same request are not priced.
    for rows in (2, 100):
        listed = pd.DataFrame(house_records(ames_csv, rows=rows)).astype({"Neighborhood": object})
        listed.at[1, "Neighborhood"] = ["NAmes", "OldTown"]
        with pytest.raises(
            ValuationInputError,
            match=r"column 'Neighborhood' has 1 value\(s\) that are not one value: "
            r"\['NAmes', 'OldTown'\]",
        ):
            model.predict(listed)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.assign(PID=f["PID"].iloc[0]), "unique_pid (observed 20, threshold 0"),
        (
            lambda f: f.assign(**{"Gr Liv Area": ["big"] + list(f["Gr Liv Area"][1:])}),
            "column 'Gr Liv Area' has 1 non-numeric value(s): 'big'",
        ),
    ],
    ids=["duplicated-pid", "text-in-an-area"],
)
def test_a_bad_subjects_file_is_named_and_keeps_the_table(
    pipeline_run, tmp_path, ames_csv, edit, message
):
    before = estimates_table()
    subjects = tmp_path / "subjects.csv"
    frame = pd.read_csv(ames_csv, nrows=20, dtype=str, keep_default_na=False)
    edit(frame).to_csv(subjects, index=False)
    result = price(str(subjects))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert message in error.message + (error.cause.message if error.cause else "")
    pd.testing.assert_frame_equal(estimates_table(), before)


def test_a_subjects_file_is_priced_as_the_source_describes_its_houses(
    pipeline_run, tmp_path, ames_csv
):
    before = estimates_table()
    subjects = tmp_path / "unsold.csv"
    frame = pd.read_csv(ames_csv, nrows=5, dtype=str, keep_default_na=False)
    frame["SalePrice"] = ""  # not sold yet
    frame.to_csv(subjects, index=False)
    try:
        assert price(str(subjects)).success
        table = estimates_table()
        assert table["PID"].tolist() == frame["PID"].astype(int).tolist()
        assert table["sale_price"].isna().all() and (table["estimate"] > 50_000).all()
    finally:
        assert price().success  # the default table again, for the tests that follow
    assert len(estimates_table()) == len(before)


def test_a_kaggle_test_file_is_priced_as_subjects(pipeline_run, tmp_path, ames_csv):
    """Kaggle's test.csv: its naming, `Id` for the house, no SalePrice."""
    from housing_assets_tests.test_naming import kaggle_copy

    subjects = tmp_path / "test.csv"
    sample = tmp_path / "sample.csv"
    pd.read_csv(ames_csv, nrows=20, dtype=str, keep_default_na=False).to_csv(sample, index=False)
    kaggle_copy(sample, subjects, priced=False)
    try:
        result = price(str(subjects))
        assert result.success
        table = estimates_table()
        assert table["PID"].tolist() == pd.read_csv(subjects)["Id"].tolist()
        assert table["sale_price"].isna().all() and (table["estimate"] > 50_000).all()
        (materialization,) = result.asset_materializations_for_node("price_estimates")
        assert "Kaggle" in materialization.metadata["subjects"].value
    finally:
        assert price().success  # the default table again, for the tests that follow


# ---- MLflow's scoring server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoring_server(pipeline_run):
    port = free_port()
    server = start_group(scoring_server_command(port=port), scoring_server_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/ping"), 180, "the scoring server", interval=0.5)
        yield url
    finally:
        stop_group(server)


def house_records(ames_csv, rows: int = 1) -> list[dict]:
    frame = pd.read_csv(ames_csv, nrows=rows, dtype=str, keep_default_na=False, na_values=[""])
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.e2e
def test_the_scoring_server_prices_one_raw_house(scoring_server, ames_csv):
    records = house_records(ames_csv)
    answer = requests.post(f"{scoring_server}/invocations", json={"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    (priced,) = answer.json()["predictions"]
    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    local = model.predict(pd.DataFrame(records)).iloc[0]
    assert priced["estimate"] == pytest.approx(local["estimate"], rel=1e-9)
    assert priced["low"] == pytest.approx(local["low"], rel=1e-9)
    assert priced["high"] == pytest.approx(local["high"], rel=1e-9)
    narrower = requests.post(
        f"{scoring_server}/invocations",
        json={"dataframe_records": records, "params": {"level": 0.5}},
    ).json()["predictions"][0]
    assert (
        priced["low"] < narrower["low"] < narrower["estimate"] < narrower["high"] < priced["high"]
    )


def served_and_local(url: str, records: list[dict], params: dict) -> tuple[list, pd.DataFrame]:
    """The scoring server's predictions for the records with `params`, and the champion's
    own answer loaded here, to compare."""
    answer = requests.post(
        f"{url}/invocations", json={"dataframe_records": records, "params": params}
    )
    assert answer.status_code == 200, answer.text
    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    return answer.json()["predictions"], model.predict(pd.DataFrame(records), params=params)


@pytest.mark.e2e
def test_the_scoring_server_explains_an_estimate_when_asked(scoring_server, ames_csv):
    """With `explain`, each house comes back with its log base value and its reasons: the ten
    largest contributions then all other features, adding up to the estimate in log price and
    in dollars, as the local pyfunc gives them."""
    import math

    from housing_assets.lib.ml.reasons import OTHER_FEATURES, TOP_REASONS

    records = house_records(ames_csv, rows=2)
    served, local = served_and_local(scoring_server, records, {"explain": True})
    for priced, (_, mine) in zip(served, local.iterrows(), strict=True):
        reasons = priced["reasons"]
        assert len(reasons) == TOP_REASONS + 1 and reasons[-1]["feature"] == OTHER_FEATURES
        assert set(reasons[0]) == {"feature", "value", "contribution", "dollars"}
        total = priced["base_value"] + sum(r["contribution"] for r in reasons)
        assert total == pytest.approx(math.log(priced["estimate"]), abs=1e-6)
        dollars = math.exp(priced["base_value"]) + sum(r["dollars"] for r in reasons)
        assert dollars == pytest.approx(priced["estimate"], rel=1e-9)
        assert [r["feature"] for r in reasons] == [r["feature"] for r in mine["reasons"]]
        assert priced["estimate"] == pytest.approx(mine["estimate"], rel=1e-9)
    plain = requests.post(f"{scoring_server}/invocations", json={"dataframe_records": records})
    assert set(plain.json()["predictions"][0]) == {"estimate", "low", "high"}


@pytest.mark.e2e
def test_the_scoring_server_returns_comparables_when_asked(scoring_server, ames_csv):
    """With `comparables`, each house comes back with up to 6 earlier known sales adjusted by
    the model and the comps-implied value, as the local pyfunc gives them. The file's first
    houses are training sales themselves: the request's PID keeps each from being its own
    comp."""
    records = house_records(ames_csv, rows=2)
    served, local = served_and_local(scoring_server, records, {"comparables": True})
    for record, priced, (_, mine) in zip(records, served, local.iterrows(), strict=True):
        comps = priced["comparables"]
        assert 3 <= len(comps) <= 6
        assert all(int(c["comp_pid"]) != int(record["PID"]) for c in comps)
        assert all(1 <= c["months_before"] <= 12 for c in comps)
        assert [c["comp_pid"] for c in comps] == [c["comp_pid"] for c in mine["comparables"]]
        weighted = sum(c["weight"] * c["adjusted_price"] for c in comps)
        assert priced["implied_value"] == pytest.approx(weighted, rel=1e-9)
        assert "reasons" not in priced


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("missing-column", "Lot Area"),
        ("text-in-living-area", "column 'Gr Liv Area' has 1 non-numeric value(s): 'abc'"),
        ("list-in-lot-area", "column 'Lot Area' has 1 non-numeric value(s): '[8450, 9600]'"),
        ("list-in-neighborhood", "column 'Neighborhood' has 1 value(s) that are not one value"),
        ("empty-body", "JSON"),
        ("no-rows", "no house to price (0 rows)"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(scoring_server, ames_csv, body, named):
    house = house_records(ames_csv)[0]
    if body == "missing-column":
        house.pop("Lot Area")
    if body == "text-in-living-area":
        house["Gr Liv Area"] = "abc"
    if body == "list-in-lot-area":
        house["Lot Area"] = [8450, 9600]
    if body == "list-in-neighborhood":
        house["Neighborhood"] = ["NAmes", "OldTown"]
    if body == "empty-body":
        answer = requests.post(
            f"{scoring_server}/invocations", data=b"", headers={"Content-Type": "application/json"}
        )
    elif body == "no-rows":
        split = {"columns": list(house), "data": []}
        answer = requests.post(f"{scoring_server}/invocations", json={"dataframe_split": split})
    else:
        answer = requests.post(f"{scoring_server}/invocations", json={"dataframe_records": [house]})
    assert 400 <= answer.status_code < 500, answer.text
    assert named in answer.json()["message"]
    # and the server keeps answering
    good = requests.post(
        f"{scoring_server}/invocations", json={"dataframe_records": house_records(ames_csv)}
    )
    assert good.status_code == 200
