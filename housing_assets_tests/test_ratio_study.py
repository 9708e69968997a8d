"""The assessor's ratio study: IAAO's formulas on hand-made sales, then the asset on the real
state (the session's warehouse and MLflow store)."""

import math

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.assets.valuation import ratio_study
from housing_assets.lib.ml import ratio_study as study_lib
from housing_assets.lib.ml.ratio_study import (
    IAAO_LIMITS,
    SCORED_COLUMNS,
    Limit,
    coverage_outcome,
    coverage_tolerance,
    group_rows,
    limit_outcome,
    range_statistics,
    ratio_statistics,
    study_groups,
)
from housing_assets.lib.registry.scored import SCORED_ARTIFACT
from housing_assets.resources import MlflowTracking, warehouse

# Five sales: percent errors 0, 2, 4, 6 and 8%, ratios 1, 1.02, 1.04, 0.94, 1.08.
PRICES = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
ESTIMATES = np.array([100.0, 204.0, 312.0, 376.0, 540.0])


def test_the_iaao_statistics_of_five_hand_made_sales():
    stats = ratio_statistics(ESTIMATES, PRICES)
    assert stats["median_ratio"] == pytest.approx(1.02, abs=1e-12)
    # |ratio - 1.02| = .02, 0, .02, .08, .06: mean .036
    assert stats["cod"] == pytest.approx(100 * 0.036 / 1.02, abs=1e-12)
    # mean ratio 5.08 / 5 over the weighted mean 1532 / 1500
    assert stats["prd"] == pytest.approx((5.08 / 5) / (1532 / 1500), abs=1e-12)
    assert stats["ppe5"] == pytest.approx(60.0)
    assert stats["ppe10"] == stats["ppe20"] == pytest.approx(100.0)
    assert stats["median_ape"] == pytest.approx(4.0, abs=1e-12)
    # the 68.3th percentile of 0, .02, .04, .06, .08: position 0.683 x 4 = 2.732
    assert stats["fsd"] == pytest.approx(100 * (0.04 + 0.732 * 0.02), abs=1e-12)


def test_an_estimate_exactly_ten_percent_off_is_within_ten_percent():
    stats = ratio_statistics([110.0, 90.0], [100.0, 100.0])
    assert stats["ppe10"] == 100.0 and stats["ppe5"] == 0.0


def test_prb_is_the_slope_on_log2_of_the_value_proxy():
    # Ratios 1.2, 1.0, 0.8 (median 1) on sales whose value proxy, half the price plus half the
    # estimate over the median, is exactly 64, 128 and 256: deviations .2, 0, -.2 on log2
    # 6, 7, 8 give a slope of -0.2.
    ratios = np.array([1.2, 1.0, 0.8])
    prices = 2.0 ** np.array([7, 8, 9]) / (1 + ratios)
    assert study_lib.price_related_bias(ratios * prices, prices) == pytest.approx(-0.2, abs=1e-12)
    # Ratios that do not move with value have no bias.
    assert study_lib.price_related_bias(PRICES * 1.1, PRICES) == pytest.approx(0.0, abs=1e-12)


def test_groups_are_neighbourhoods_with_twenty_sales_and_price_quartiles():
    scored = pd.DataFrame(
        {
            "Neighborhood": ["A"] * 20 + ["B"] * 19 + ["C"],
            "sale_price": np.arange(1.0, 41.0) * 1000,
            "estimate": np.arange(1.0, 41.0) * 1000,
        }
    )
    groups = [(kind, name, len(rows)) for kind, name, rows in study_groups(scored)]
    assert groups == [
        ("overall", "all", 40),
        ("neighborhood", "A", 20),
        ("price_quartile", "Q1", 10),
        ("price_quartile", "Q2", 10),
        ("price_quartile", "Q3", 10),
        ("price_quartile", "Q4", 10),
    ]
    cheapest = next(rows for kind, name, rows in study_groups(scored) if name == "Q1")
    assert cheapest["sale_price"].max() == 10_000


def test_a_limit_names_the_group_furthest_outside_it():
    rows = pd.DataFrame(
        {
            "group_kind": ["neighborhood", "neighborhood", "price_quartile"],
            "group": ["A", "B", "Q1"],
            "cod": [9.0, 21.5, 16.0],
            "prb": [0.01, -0.2, 0.5],
        }
    )
    cod = limit_outcome(rows, "cod")
    assert not cod.passed and cod.observed == 21.5 and cod.where == "neighborhood B"
    assert cod.outside == ("neighborhood B: 21.500", "price_quartile Q1: 16.000")
    assert limit_outcome(rows.iloc[:1], "cod").passed
    # PRD and PRB are judged on neighbourhoods only: within a price quartile they measure the
    # stratification
    assert list(group_rows(rows, "prb")["group"]) == ["A", "B"]
    assert limit_outcome(group_rows(rows, "prb"), "prb").observed == -0.2
    assert Limit(-math.inf, 15.0).describe() == "at most 15"
    assert IAAO_LIMITS["prd"].describe() == "between 0.98 and 1.03"


def test_range_coverage_of_hand_made_sales_and_its_tolerance():
    sales = pd.DataFrame(
        {
            "sale_price": PRICES,
            "low": [90.0, 150.0, 310.0, 400.0, 450.0],  # 300 is below its range
            "high": [110.0, 210.0, 330.0, 440.0, 500.0],  # 500 is on its upper bound
            "interval_level": 0.9,
        }
    )
    stats = range_statistics(sales)
    assert stats == {"interval_level": 0.9, "coverage": 0.8, "median_width": 40.0}
    assert math.isnan(range_statistics(sales.drop(columns=["low"]))["coverage"])
    # 3 points for a large group; 3.29 binomial standard deviations for a small one
    assert coverage_tolerance(0.9, 100_000) == 0.03
    assert coverage_tolerance(0.9, 25) == pytest.approx(3.29 * 0.3 / 5, abs=1e-12)


def test_a_coverage_outcome_names_the_groups_outside_their_tolerance():
    rows = pd.DataFrame(
        {
            "group_kind": ["neighborhood", "neighborhood", "price_quartile", "neighborhood"],
            "group": ["A", "B", "Q1", "C"],
            "sales": [100_000, 25, 100_000, 30],
            "interval_level": 0.9,
            # A is 4 points under (tolerance 3), B 10 under (19.7 allowed), Q1 2 over
            "coverage": [0.86, 0.80, 0.92, np.nan],
        }
    )
    outcome = coverage_outcome(rows)
    assert not outcome.passed and outcome.observed == 0.86 and outcome.where == "neighborhood A"
    assert outcome.outside == ("neighborhood A: 86.0% (90% +- 3.0%)",)
    assert coverage_outcome(rows.iloc[1:]).passed
    assert coverage_outcome(rows.iloc[3:]).where == "none"  # a group without ranges


# -- the asset on the session's state ---------------------------------------------------------


def study_table(path=None) -> pd.DataFrame:
    with duckdb.connect(str(path or settings.warehouse_path()), read_only=True) as connection:
        return connection.execute("select * from housing.ratio_study").fetchdf()


def overall(table: pd.DataFrame, model: str, scope: str = "test") -> pd.Series:
    rows = table[
        (table["model"] == model) & (table["scope"] == scope) & (table["group_kind"] == "overall")
    ]
    assert len(rows) == 1, (model, scope)
    return rows.iloc[0]


def test_the_study_of_the_champion_is_the_ratios_of_its_price_estimates(pipeline_run):
    """The champion's test-split row, from the sales its training run logged, equals the
    statistics of the price_estimates table the champion priced; each family's row equals
    the figures its MLflow run logged."""
    _, instance = pipeline_run
    table = study_table()
    client = MlflowClient(settings.mlflow_tracking_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        estimates = connection.execute(
            "select e.estimate, e.sale_price, r.Neighborhood from housing.price_estimates e "
            "join housing.raw_housing r using (PID)"
        ).fetchdf()
    expected = ratio_statistics(estimates["estimate"], estimates["sale_price"])
    row = overall(table, "champion")
    assert row["model_version"] == int(champion.version) and row["sales"] == 879
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-9), name
    for name, limit in IAAO_LIMITS.items():
        assert limit.holds(row[name]), (name, row[name])
    # every neighbourhood with at least 20 test sales, and only those
    champion_groups = table[(table["model"] == "champion") & (table["scope"] == "test")]
    counts = estimates["Neighborhood"].value_counts()
    neighbourhoods = champion_groups[champion_groups["group_kind"] == "neighborhood"]
    assert set(neighbourhoods["group"]) == set(counts[counts >= 20].index)
    assert dict(zip(neighbourhoods["group"], neighbourhoods["sales"], strict=True)) == {
        name: n for name, n in counts.items() if n >= 20
    }
    quartiles = champion_groups[champion_groups["group_kind"] == "price_quartile"]
    assert list(quartiles["group"]) == ["Q1", "Q2", "Q3", "Q4"]
    assert quartiles["sales"].sum() == 879

    for asset in ("boosted_price_model", "linear_price_model"):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        logged = client.get_run(meta["mlflow_run_id"]).data.metrics
        tested, backtested = overall(table, asset), overall(table, asset, "backtest")
        assert tested["model_version"] == meta["registered_version"]
        for name in ("median_ratio", "cod", "prd", "prb", "ppe10", "fsd"):
            assert logged[f"test_{name}"] == pytest.approx(tested[name], rel=1e-9), name
            assert logged[f"backtest_{name}"] == pytest.approx(backtested[name], rel=1e-9)
        assert tested["sales"] == 879 and backtested["sales"] == logged["backtest_rows"] == 341
        scored = client.download_artifacts(meta["mlflow_run_id"], SCORED_ARTIFACT)
        sales = pd.read_parquet(scored)
        assert list(sales.columns) == list(SCORED_COLUMNS)
        assert set(sales.loc[sales["scope"] == "test", "PID"]) == estimates_pids()
        # the ranges' coverage in the study is the one the run logged, in both scopes
        assert tested["coverage"] == pytest.approx(logged["test_interval_coverage"], abs=1e-12)
        assert backtested["coverage"] == pytest.approx(
            logged["backtest_interval_coverage"], abs=1e-12
        )
        assert tested["median_width"] == pytest.approx(
            logged["test_interval_median_width"], rel=1e-9
        )
        assert tested["interval_level"] == backtested["interval_level"] == 0.9
        # the 5-fold CV figures of the training split, beside the test split's
        cross = overall(table, asset, "cv5")
        assert cross["sales"] == 2051 and np.isnan(cross["coverage"])
        for name in ("median_ratio", "cod", "prd", "prb", "ppe10", "fsd"):
            assert logged[f"cv5_{name}"] == pytest.approx(cross[name], rel=1e-9), name
        cv_pids = set(sales.loc[sales["scope"] == "cv5", "PID"])
        assert len(cv_pids) == 2051 and not cv_pids & estimates_pids()


def test_the_champions_range_coverage_by_group_is_that_of_its_price_estimates(pipeline_run):
    """Each group's coverage and width in the study, from the sales the champion's training
    run logged, equal those of the price_estimates table's ranges (a separate asset)."""
    table = study_table()
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        estimates = connection.execute(
            "select e.*, r.Neighborhood from housing.price_estimates e "
            "join housing.raw_housing r using (PID) order by e.rowid"
        ).fetchdf()
    # in the table's order, which is the split's: tied prices then fall in the same quartiles
    estimates["inside"] = (estimates["low"] <= estimates["sale_price"]) & (
        estimates["sale_price"] <= estimates["high"]
    )
    estimates["width"] = estimates["high"] - estimates["low"]
    champion = table[(table["model"] == "champion") & (table["scope"] == "test")]
    by_group = {"overall": estimates.assign(group="all").groupby("group")}
    by_group["neighborhood"] = estimates.groupby("Neighborhood")
    quartile = study_lib.price_quartiles(estimates["sale_price"])
    by_group["price_quartile"] = estimates.groupby(quartile)
    checked = 0
    for row in champion.itertuples():
        members = by_group[row.group_kind].get_group(row.group)
        assert row.sales == len(members)
        assert row.coverage == pytest.approx(members["inside"].mean(), abs=1e-12), row.group
        assert row.median_width == pytest.approx(members["width"].median(), rel=1e-9)
        checked += 1
    assert checked == len(champion) == 1 + 16 + 4


def estimates_pids() -> set:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        rows = connection.execute("select PID from housing.price_estimates").fetchall()
    return {pid for (pid,) in rows}


def test_the_study_records_each_iaao_check_with_its_value_and_limit(pipeline_run):
    _, instance = pipeline_run
    table = study_table()
    row = overall(table, "champion")
    key = dg.AssetKey("ratio_study")
    for name, limit in IAAO_LIMITS.items():
        check = dg.AssetCheckKey(key, f"champion_{name}_within_iaao")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])
        evaluation = record[check].event.asset_check_evaluation
        meta = {k: v.value for k, v in evaluation.metadata.items()}
        assert evaluation.passed
        assert meta["observed"] == pytest.approx(row[name]) and meta["observed_in"] == "overall all"
        assert meta["threshold"] == limit.describe()
    event = instance.get_latest_materialization_event(key)
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["champion_cod"] == pytest.approx(row["cod"])
    report = settings.reports_dir() / "ratio_study.html"
    assert meta["report_path"] == str(report)
    page = report.read_text()
    assert "Ratio of estimate to sale price, test split" in page and "IAAO limits" in page


def test_a_champion_outside_an_iaao_limit_keeps_the_previous_study(
    tmp_path, golden_state, monkeypatch
):
    """With COD's limit at 5 the champion (COD about 7.2) fails the blocking check: the step
    fails naming the check, the value and the limit, and the published study and its page
    stay."""
    home = golden_state(tmp_path / "home")
    monkeypatch.setenv("HOUSING_HOME", str(home))
    before = study_table(settings.pipeline_warehouse_path(home))
    report = home / "reports" / "ratio_study.html"
    page = report.read_bytes()
    monkeypatch.setitem(study_lib.IAAO_LIMITS, "cod", Limit(-math.inf, 5.0))
    result = dg.materialize(
        [ratio_study],
        resources={"mlflow": MlflowTracking(), "warehouse": warehouse(home)},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "champion_cod_within_iaao" in message and "at most 5" in message
    assert f"observed {overall(before, 'champion')['cod']}" in message
    pd.testing.assert_frame_equal(study_table(settings.pipeline_warehouse_path(home)), before)
    assert report.read_bytes() == page, "the published study's page stays too"


def test_ranges_that_cover_half_their_claim_fail_the_group_coverage_check(pipeline_run, raw_frame):
    """The champion's 50% ranges, stated as its 90% ones, on the test split: the check warns
    and names the groups; its own 90% ranges pass it."""
    import mlflow

    from housing_assets.checks import GROUP_COVERAGE_CHECK, coverage_check_result
    from housing_assets.lib.ml.split import split_sales

    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    valuation = model.unwrap_python_model()
    split = split_sales(raw_frame)
    key = dg.AssetKey("ratio_study")
    outcomes = {}
    for level in (0.9, 0.5):
        priced = valuation.ranges(split.X_test, level)
        scored = pd.DataFrame(
            {
                "scope": "test", "model": "champion", "model_version": 1,
                "PID": split.pid.loc[split.X_test.index].to_numpy(),
                "Neighborhood": split.X_test["Neighborhood"].astype(str).to_numpy(),
                "sale_price": split.y_test.to_numpy(float),
                **{c: priced[c].to_numpy() for c in ("estimate", "low", "high")},
                "interval_level": 0.9,
            }
        )  # fmt: skip
        table = study_lib.ratio_study(scored)
        groups = table[table["group_kind"] != "overall"]
        outcomes[level] = coverage_check_result(key, groups)
    assert outcomes[0.9].passed, outcomes[0.9].metadata["outside"]
    failed = outcomes[0.5]
    meta = {k: getattr(v, "value", v) for k, v in failed.metadata.items()}
    assert not failed.passed and failed.check_name == GROUP_COVERAGE_CHECK
    assert failed.severity == dg.AssetCheckSeverity.WARN
    assert meta["groups_checked"] == 20 and 0.2 < meta["observed"] < 0.7
    assert meta["outside"].count("(90% +- ") == 20, "every group is far under its claim"
