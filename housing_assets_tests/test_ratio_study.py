"""The assessor's ratio study: IAAO's formulas on hand-made sales, then the asset on the real
state (the session's warehouse and MLflow store)."""

import math
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from housing_assets import settings
from housing_assets.assets.valuation import ratio_study
from housing_assets.lib.ml import ratio_study as study_lib
from housing_assets.lib.ml.families import FAMILIES
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
from housing_assets.resources import MlflowTracking, WarehouseIOManager, warehouse

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


# Nine sales: two that are not arm's-length, and seven whose ratios have quartiles 0.975 and
# 1.075 (positions 1.5 and 4.5 of 0..6), so an IQR of 0.1 and fences at 0.675 and 1.375.
CONDITIONS = ["Normal", "Partial", "Normal", "Normal", "Normal", "Partial", "Normal",
              "Abnorml", "Family"]  # fmt: skip
RATIOS = [0.7, 0.95, 1.0, 1.0, 1.05, 1.1, 2.0, 1.0, 1.0]


def hand_made_scored(with_condition: bool = True) -> pd.DataFrame:
    prices = np.arange(1.0, 10.0) * 100_000
    scored = pd.DataFrame(
        {
            "scope": "test", "model": "m", "model_version": 3, "PID": np.arange(1, 10),
            "Neighborhood": "A", "sale_condition": CONDITIONS, "sale_price": prices,
            "estimate": prices * np.array(RATIOS),
        }
    )  # fmt: skip
    return scored if with_condition else scored.drop(columns=["sale_condition"])


def test_the_validated_sample_is_the_arms_length_sales_less_the_extreme_ratios():
    scored = hand_made_scored()
    # 0.7 is inside the lower fence, 2.0 outside the upper one; the two sales that are not
    # arm's-length go whatever their ratio
    assert list(study_lib.validated_sales(scored)["PID"]) == [1, 2, 3, 4, 5, 6]
    assert study_lib.validated_sales(hand_made_scored(with_condition=False)).empty
    study = study_lib.ratio_study(scored)
    # each sample: all its sales, then its four price quartiles (one neighbourhood, too small)
    assert list(study["sample"]) == ["all"] * 5 + ["validated"] * 5
    assert list(study["group_kind"]) == (["overall"] + ["price_quartile"] * 4) * 2
    # quartile edges of ranks 1-9 at 3, 5, 7; of ranks 1-6 at 2.25, 3.5, 4.75
    assert list(study["sales"]) == [9, 3, 2, 2, 2, 6, 2, 1, 1, 2]
    validated = study[(study["sample"] == "validated") & (study["group_kind"] == "overall")]
    (row,) = validated.to_dict("records")
    assert row["sales"] == 6 and row["model_version"] == 3
    # ratios .7 .95 1 1 1.05 1.1: median 1, mean |deviation| (.3 + .05 + 0 + 0 + .05 + .1) / 6
    assert row["median_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert row["cod"] == pytest.approx(100 * 0.5 / 6, abs=1e-12)
    # sales logged before their condition was have the study of all sales only
    assert set(study_lib.ratio_study(hand_made_scored(False))["sample"]) == {"all"}


def test_the_checks_judge_every_sale_not_the_validated_sample():
    """A validated sample far outside IAAO's COD limit leaves the blocking check to the
    figures of all sales, which pass."""
    from housing_assets.checks import ratio_check_results

    rows = [
        {"scope": "test", "model": "champion", "model_version": 1, "sample": sample,
         "group_kind": "overall", "group": "all", "sales": 100, "median_ratio": 1.0, "cod": cod,
         "prd": 1.0, "prb": 0.0, "coverage": 0.9, "interval_level": 0.9}
        for sample, cod in (("all", 7.0), ("validated", 50.0))
    ]  # fmt: skip
    study = pd.DataFrame(rows)
    results = {r.check_name: r for r in ratio_check_results(dg.AssetKey("ratio_study"), study)}
    cod = results["champion_cod_within_iaao"]
    assert cod.passed and cod.metadata["observed"].value == 7.0
    # the same study with the validated row counted as all sales fails it
    failing = study.assign(sample="all")
    results = ratio_check_results(dg.AssetKey("ratio_study"), failing)
    assert not next(r for r in results if r.check_name == "champion_cod_within_iaao").passed


# -- the asset on the session's state ---------------------------------------------------------


def study_table(path=None) -> pd.DataFrame:
    with duckdb.connect(str(path or settings.warehouse_path()), read_only=True) as connection:
        return connection.execute("select * from housing.ratio_study").fetchdf()


def overall(table: pd.DataFrame, model: str, scope: str = "test", sample: str = "all") -> pd.Series:
    rows = table[
        (table["model"] == model)
        & (table["scope"] == scope)
        & (table["sample"] == sample)
        & (table["group_kind"] == "overall")
    ]
    assert len(rows) == 1, (model, scope, sample)
    return rows.iloc[0]


def by_hand_validated(frame: pd.DataFrame) -> pd.DataFrame:
    """The validated sample computed here: Normal and Partial sales, then the ratios outside
    the quartiles +- 3 IQR (percentiles interpolated linearly) left out."""
    arms = frame[frame["Sale Condition"].isin(["Normal", "Partial"])]
    ratio = arms["estimate"] / arms["sale_price"]
    q1, q3 = np.percentile(ratio, 25), np.percentile(ratio, 75)
    return arms[ratio.between(q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1))]


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
            'select e.estimate, e.sale_price, r.Neighborhood, r."Sale Condition" '
            "from housing.price_estimates e join housing.raw_housing r using (PID)"
        ).fetchdf()
    expected = ratio_statistics(estimates["estimate"], estimates["sale_price"])
    row = overall(table, "champion")
    assert row["model_version"] == int(champion.version) and row["sales"] == 879
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-9), name
    for name, limit in IAAO_LIMITS.items():
        assert limit.holds(row[name]), (name, row[name])
    # the validated sample: the arm's-length sales less the outlier ratios
    validated = by_hand_validated(estimates)
    assert 750 < len(validated) < 860
    row = overall(table, "champion", sample="validated")
    assert row["sales"] == len(validated)
    expected = ratio_statistics(validated["estimate"], validated["sale_price"])
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-9), name
    # every neighbourhood with at least 20 test sales, and only those
    champion_groups = table[
        (table["model"] == "champion") & (table["scope"] == "test") & (table["sample"] == "all")
    ]
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
        validated = overall(table, asset, sample="validated")
        for name in ("median_ratio", "cod", "prd", "prb", "ppe10", "fsd"):
            assert logged[f"test_{name}"] == pytest.approx(tested[name], rel=1e-9), name
            assert logged[f"backtest_{name}"] == pytest.approx(backtested[name], rel=1e-9)
            assert logged[f"test_validated_{name}"] == pytest.approx(validated[name], rel=1e-9)
        assert logged["test_validated_sales"] == validated["sales"]
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
    champion = table[
        (table["model"] == "champion") & (table["scope"] == "test") & (table["sample"] == "all")
    ]
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


def study_resources(home) -> dict:
    """The study's resources on a copied state, publishing through the project's IO manager."""
    shared = warehouse(home)
    return {
        "mlflow": MlflowTracking(),
        "warehouse": shared,
        "io_manager": WarehouseIOManager(warehouse=shared),
    }


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
    validated = overall(table, "champion", sample="validated")
    assert meta["champion_validated_cod"] == pytest.approx(validated["cod"])
    assert meta["champion_validated_sales"] == validated["sales"] < row["sales"]
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
    result = dg.materialize([ratio_study], resources=study_resources(home), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "champion_cod_within_iaao" in message and "at most 5" in message
    assert f"observed {overall(before, 'champion')['cod']}" in message
    pd.testing.assert_frame_equal(study_table(settings.pipeline_warehouse_path(home)), before)
    assert report.read_bytes() == page, "the published study's page stays too"


def test_a_champion_that_logged_no_sales_is_re_scored_on_the_test_split(
    tmp_path, golden_state, monkeypatch
):
    """A champion whose run has no scored sales (registered before the ratio study) is priced
    on the test split now: its rows are the statistics of the price estimates it made, on both
    samples, with no backtest or cv5 rows; the families' rows are those their runs logged."""
    home = golden_state(tmp_path / "home")
    monkeypatch.setenv("HOUSING_HOME", str(home))
    client = MlflowClient(settings.mlflow_tracking_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    run = client.get_run(champion.run_id)
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / SCORED_ARTIFACT
    logged.unlink()
    before = study_table(settings.pipeline_warehouse_path(home))
    result = dg.materialize([ratio_study], resources=study_resources(home))
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert (
        meta["scored_sales_from"]
        .value["champion"]
        .endswith("re-scored on this run's test split (no backtest)")
    )
    table = study_table(settings.pipeline_warehouse_path(home))
    rescored = table[table["model"] == "champion"]
    assert set(rescored["scope"]) == {"test"}
    with duckdb.connect(str(settings.pipeline_warehouse_path(home)), read_only=True) as db:
        estimates = db.execute(
            'select e.estimate, e.sale_price, r."Sale Condition" '
            "from housing.price_estimates e join housing.raw_housing r using (PID)"
        ).fetchdf()
    for sample, sales in (("all", estimates), ("validated", by_hand_validated(estimates))):
        row = overall(table, "champion", sample=sample)
        assert row["sales"] == len(sales) and row["model_version"] == int(champion.version)
        for name, value in ratio_statistics(sales["estimate"], sales["sale_price"]).items():
            assert row[name] == pytest.approx(value, rel=1e-9), (sample, name)
    # the family whose newest version is the champion has lost its sales and is left out; the
    # other's rows still come from its run, backtest and all
    (other,) = [f.asset for f in FAMILIES.values() if f.name != champion.tags["model_family"]]
    sources = meta["scored_sales_from"].value
    assert set(sources) == set(table["model"]) == {"champion", other}, sources
    kept = table[table["model"] == other].reset_index(drop=True)
    assert set(kept["scope"]) == {"test", "backtest", "cv5"}
    expected = before[before["model"] == other].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, expected)


def test_ranges_that_cover_half_their_claim_fail_the_group_coverage_check(pipeline_run, raw_frame):
    """The champion's 50% ranges, stated as its 90% ones, on the test split: the check warns
    and names the groups; its own 90% ranges pass it."""
    import mlflow

    from housing_assets.checks import GROUP_COVERAGE_CHECK, coverage_check_result
    from housing_assets.lib.ml.split import split_sales
    from housing_assets.lib.ml.workflow import scored_sales, split_pids

    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    valuation = model.unwrap_python_model()
    split = split_sales(raw_frame)
    key = dg.AssetKey("ratio_study")
    outcomes = {}
    for level in (0.9, 0.5):
        priced = valuation.ranges(split.X_test, level)
        scored = scored_sales(
            "test", split_pids(split, split.X_test), split.X_test, split.y_test,
            priced["estimate"], priced["low"], priced["high"], 0.9,
        ).assign(model="champion", model_version=1)  # fmt: skip
        table = study_lib.all_sales(study_lib.ratio_study(scored))
        groups = table[table["group_kind"] != "overall"]
        outcomes[level] = coverage_check_result(key, groups)
    assert outcomes[0.9].passed, outcomes[0.9].metadata["outside"]
    failed = outcomes[0.5]
    meta = {k: getattr(v, "value", v) for k, v in failed.metadata.items()}
    assert not failed.passed and failed.check_name == GROUP_COVERAGE_CHECK
    assert failed.severity == dg.AssetCheckSeverity.WARN
    assert meta["groups_checked"] == 20 and 0.2 < meta["observed"] < 0.7
    assert meta["outside"].count("(90% +- ") == 20, "every group is far under its claim"
