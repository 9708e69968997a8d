"""`housing-api value`: one house's valuation as a person reads it, on the session's state."""

import json

import dagster as dg
import duckdb
import pandas as pd
import pytest

from housing_assets import settings
from housing_assets.api.cli import main


def table(name: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        return connection.execute(f"select * from housing.{name}").fetchdf()


def test_value_prints_the_estimate_reasons_and_comps_the_tables_hold(pipeline_run, capsys):
    estimates, reasons, comps = (
        table("price_estimates"),
        table("price_reasons"),
        table("price_comparables"),
    )
    pid = int(estimates["PID"].iloc[0])
    assert main(["value", "--pid", str(pid)]) == 0
    text = capsys.readouterr().out
    priced = estimates.set_index("PID").loc[pid]
    assert f"House {pid} (" in text
    assert f"Estimate ${priced['estimate']:,.0f}, 90% range ${priced['low']:,.0f} to " in text
    assert f"sold for ${priced['sale_price']:,.0f}" in text
    mine = reasons[(reasons["PID"] == pid) & (reasons["rank"] > 0)]
    for row in mine.itertuples():
        assert f"{row.dollars:>+12,.0f}" in text and row.feature in text
    theirs = comps[comps["PID"] == pid]
    for row in theirs.itertuples():
        assert f" {row.comp_pid} " in text and f"{row.adjusted_price:,.0f}" in text
    implied = theirs["implied_value"].iloc[0]
    assert f"{len(theirs)} comparable sales imply ${implied:,.0f}" in text


def test_value_as_json_and_from_a_file(pipeline_run, capsys, tmp_path, ames_csv):
    source = pd.read_csv(ames_csv, nrows=2, dtype=str, keep_default_na=False)
    houses = tmp_path / "houses.csv"
    source.drop(columns=["SalePrice"]).to_csv(houses, index=False)
    assert main(["value", "--file", str(houses), "--json", "--html", str(tmp_path / "pages")]) == 0
    out = capsys.readouterr()
    valuations = json.loads(out.out)
    assert [v["pid"] for v in valuations] == source["PID"].astype(int).tolist()
    for v in valuations:
        assert v["sale_price"] is None  # not in the file: a house to value, not a sale
        assert v["low"] < v["estimate"] < v["high"] and len(v["reasons"]) == 11
        assert 3 <= len(v["comparables"]) <= 6
        assert all(int(c["comp_pid"]) != v["pid"] for c in v["comparables"])
        page = (tmp_path / "pages" / f"valuation_{v['pid']}.html").read_text()
        assert f"Valuation of house {v['pid']}" in page and "Comparable sales" in page
    assert "wrote " in out.err


def test_value_names_a_house_it_cannot_find(pipeline_run, capsys):
    assert main(["value", "--pid", "1", "--pid", "2"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: no house with PID 1, 2 in ") and "raw_housing" in error
    assert main(["value"]) == 2


def test_the_explained_step_links_a_valuation_page(pipeline_run):
    _, instance = pipeline_run
    event = instance.get_latest_materialization_event(dg.AssetKey("price_comparables"))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    pid = int(table("price_estimates")["PID"].iloc[0])
    path = settings.reports_dir() / "valuations" / f"valuation_{pid}.html"
    assert meta["example_valuation_page"] == str(path)
    page = path.read_text()
    assert f"Valuation of house {pid}" in page and "Why: base value $" in page
    assert "plotly" not in page, "a small page, no scripts"


def test_value_json_matches_the_tables(pipeline_run, capsys):
    reasons = table("price_reasons")
    pid = int(reasons["PID"].iloc[0])
    assert main(["value", "--pid", str(pid), "--json"]) == 0
    (valuation,) = json.loads(capsys.readouterr().out)
    mine = reasons[(reasons["PID"] == pid) & (reasons["rank"] > 0)]
    assert [r["feature"] for r in valuation["reasons"]] == mine["feature"].tolist()
    assert valuation["base_value"] == pytest.approx(
        reasons[(reasons["PID"] == pid) & (reasons["rank"] == 0)]["contribution"].iloc[0]
    )
