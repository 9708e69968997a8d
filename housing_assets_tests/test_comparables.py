"""Comparable sales (`lib.ml.comparables`): the choice on hand-made sales, then the table the
pipeline published and the scoring pyfunc on the session's state."""

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from housing_assets import settings
from housing_assets.lib.data import quality
from housing_assets.lib.data.cleaning import sales as sales_of
from housing_assets.lib.ml.comparables import (
    MAX_COMPS,
    choose,
    comparable_pool,
    comparables_table,
)
from housing_assets.lib.ml.reasons import Contributions
from housing_assets.lib.ml.split import split_index, split_sales


def sales(rows: list[tuple]) -> pd.DataFrame:
    """(Neighborhood, year, month, living area, age, quality) per sale."""
    frame = pd.DataFrame(
        rows,
        columns=["Neighborhood", "Yr Sold", "Mo Sold", "Gr Liv Area", "House Age", "Overall Qual"],
    )
    return frame.astype({c: float for c in frame.columns if c != "Neighborhood"})


POOL = sales([
    ("A", 2008, 5, 1500, 20, 6),   # 0: same market, 1 month before, near twin
    ("A", 2008, 6, 1500, 20, 6),   # 1: same month as the subject: not before it
    ("A", 2007, 5, 1500, 20, 6),   # 2: 13 months before: outside the window
    ("A", 2007, 7, 1600, 25, 6),   # 3: 11 months before
    ("A", 2008, 1, 3000, 80, 3),   # 4: 5 months before, very different
    ("B", 2008, 4, 1500, 20, 6),   # 5: competing market (A and B price alike)
    ("C", 2008, 4, 1500, 20, 6),   # 6: a market far away in price per foot
])  # fmt: skip
POOL_PRICE = [150_000, 151_000, 140_000, 155_000, 160_000, 149_000, 400_000]
SUBJECT = sales([("A", 2008, 6, 1500, 20, 6)])


def test_comps_are_earlier_sales_of_the_year_before_in_the_same_market_first():
    pool = comparable_pool(POOL, pd.Series(POOL_PRICE), np.arange(100, 107))
    # C prices per foot far above A and B, so B is A's nearest competitor
    assert pool.competitors["A"][0] == "B"
    chosen = choose(pool, SUBJECT, np.array([999]))
    # A has three usable sales (0, 3, 4): enough, so no competitor is added
    assert chosen.comp.tolist() == [0, 3, 4]  # closest first
    assert chosen.months_before.tolist() == [1.0, 11.0, 5.0]
    assert chosen.distance[0] == 0.0 and chosen.distance[1] < chosen.distance[2]
    # without sale 4, A has two: B's sale is added, never C's
    fewer = comparable_pool(POOL.drop(index=4), pd.Series(POOL_PRICE).drop(index=4), np.arange(6))
    chosen = choose(fewer, SUBJECT, np.array([999]))
    assert sorted(fewer.neighborhood[chosen.comp]) == ["A", "A", "B"]
    # a subject is never its own comp
    itself = choose(pool, SUBJECT, np.array([100]))
    assert 0 not in itself.comp.tolist()
    # a house not sold yet is valued the month after the pool's last sale (2008-06)
    unsold = SUBJECT.assign(**{"Yr Sold": np.nan, "Mo Sold": np.nan})
    later = choose(pool, unsold, np.array([999]))
    assert 1 in later.comp.tolist() and len(later.comp) <= MAX_COMPS


def test_the_own_neighbourhood_comes_first_and_a_gap_is_not_a_perfect_match():
    # A has two usable sales far from the subject, B one identical to it: A's come first
    pool = comparable_pool(
        sales(
            [
                ("A", 2008, 5, 3000, 80, 3),
                ("A", 2008, 4, 2900, 70, 3),
                ("B", 2008, 5, 1500, 20, 6),
                ("C", 2008, 5, 1500, 20, 6),
                ("A", 2006, 1, 1500, 20, 6),
            ]
        ),  # fmt: skip
        pd.Series([150e3, 150e3, 150e3, 900e3, 150e3]),
        np.arange(5),
    )
    chosen = choose(pool, SUBJECT, np.array([999]))
    assert chosen.comp.tolist() == [1, 0, 2]  # A (closest first), then B
    # a subject without a living area is measured at the pool's median area, not as a match
    gap = SUBJECT.assign(**{"Gr Liv Area": np.nan})
    median = choose(pool, gap, np.array([999]))
    assert median.distance[0] > 0
    # a house sold in the first month of the data has no earlier sale: no comps at all
    first = sales([("A", 2006, 1, 1500, 20, 6)])
    nothing = choose(pool, first, np.array([999]))
    assert len(nothing.comp) == 0
    empty = comparables_table(
        pool, nothing, np.array([999]), np.array([1.0]), np.array([]),
        Contributions(0.0, np.zeros((1, 1)), ("x",)), Contributions(0.0, np.zeros((0, 1)), ("x",)),
    )  # fmt: skip
    assert empty.empty and list(empty.columns)[:3] == ["PID", "comp_rank", "comp_pid"]


def test_adjustments_add_up_and_the_implied_value_leans_on_the_least_adjusted():
    pool = comparable_pool(POOL, pd.Series(POOL_PRICE), np.arange(100, 107))
    chosen = choose(pool, SUBJECT, np.array([999]))
    features = ("Gr Liv Area", "House Age")  # two line items: living area, age
    subject = Contributions(12.0, np.array([[0.10, 0.00]]), features)
    # comp 0: the same house (no adjustment); comp 3: -0.05 size; comp 4: +0.20 size, -0.30 age
    comps = Contributions(12.0, np.array([[0.10, 0.0], [0.05, 0.0], [-0.10, 0.30]]), features)
    subject_estimate = np.array([np.exp(12.1)])
    comp_estimate = np.exp(12.0 + comps.values.sum(axis=1))
    table = comparables_table(
        pool, chosen, np.array([999]), subject_estimate, comp_estimate, subject, comps
    )
    assert table["comp_pid"].tolist() == [100, 103, 104]
    ratio = subject_estimate[0] / comp_estimate
    np.testing.assert_allclose(table["adjusted_price"], np.array([150e3, 155e3, 160e3]) * ratio)
    np.testing.assert_allclose(table["net_adjustment_pct"], 100 * (ratio - 1))
    # gross: the sizes of the per-feature dollar adjustments; comp 4 moves +0.2 and -0.3
    assert table.loc[0, "gross_adjustment_pct"] == pytest.approx(0.0, abs=1e-9)
    adjusted, price = table.loc[2, "adjusted_price"], 160e3
    scale = (adjusted - price) / np.log(adjusted / price)
    assert table.loc[2, "gross_adjustment_pct"] == pytest.approx(100 * 0.5 * scale / price)
    assert table["flagged"].tolist() == [False, False, True]
    # weights 1 / max(gross, 1%), normalised: the identical comp counts most
    gross = np.maximum(table["gross_adjustment_pct"] / 100, 0.01)
    np.testing.assert_allclose(table["weight"], (1 / gross) / (1 / gross).sum())
    implied = (table["weight"] * table["adjusted_price"]).sum()
    assert table["implied_value"].tolist() == pytest.approx([implied] * 3)
    assert table.loc[0, "implied_gap_pct"] == pytest.approx(
        100 * (implied / subject_estimate[0] - 1)
    )


def test_comp_rules_catch_a_subject_a_test_house_and_a_stale_sale():
    frame = pd.DataFrame(
        {
            "PID": [1, 1, 2], "comp_pid": [1, 5, 6], "months_before": [3, 0, 13],
            "comp_in_test_split": [False, True, False],
        }
    )  # fmt: skip
    known = quality.comps_are_known_sales(frame)
    assert not known.passed and known.observed == 2
    assert "1 comp(s) that are their subject, 1 from the test split" in known.detail
    window = quality.comps_sold_within_window(frame)
    assert not window.passed and window.observed == 2
    assert quality.comps_sold_within_window(frame.assign(months_before=[1, 6, 12])).passed


# -- the published table and the served pyfunc on the session's state ---------------------------


def published(name: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as connection:
        return connection.execute(f"select * from housing.{name}").fetchdf()


def test_every_comp_is_an_earlier_known_sale_of_the_year_before(pipeline_run, raw_frame):
    table = published("price_comparables")
    estimates = published("price_estimates")
    rows = sales_of(raw_frame)
    train, test = split_index(rows)
    training, tested = set(rows.loc[train, "PID"]), set(rows.loc[test, "PID"])
    assert set(table["PID"]) <= set(estimates["PID"]) and table["PID"].nunique() > 850
    assert set(table["comp_pid"]) <= training and not set(table["comp_pid"]) & tested
    assert (table["comp_pid"] != table["PID"]).all()
    when = rows.set_index("PID")
    month = when["Yr Sold"] * 12 + when["Mo Sold"]
    before = month.loc[table["PID"]].to_numpy() - month.loc[table["comp_pid"]].to_numpy()
    assert (before >= 1).all() and (before <= 12).all()
    np.testing.assert_array_equal(before, table["months_before"])
    counts = table.groupby("PID").size()
    assert counts.max() == 6 and (counts >= 3).mean() > 0.95
    # each comp's price is its sale price, and the subject's estimate is price_estimates'
    np.testing.assert_allclose(
        table["comp_price"], when.loc[table["comp_pid"], "SalePrice"].astype(float)
    )
    priced = estimates.set_index("PID")["estimate"]
    np.testing.assert_allclose(table["subject_estimate"], priced.loc[table["PID"]], rtol=1e-12)
    # comps from the subject's own neighbourhood first
    same = (
        table["comp_neighborhood"].to_numpy() == when.loc[table["PID"], "Neighborhood"].to_numpy()
    )
    assert same.mean() > 0.9


def test_the_implied_value_is_scored_beside_the_model(pipeline_run):
    """The metadata's COD and median APE of the comps-implied value, and of the model on the
    same houses, are those of the published tables."""
    import dagster as dg

    from housing_assets.lib.ml.ratio_study import ratio_statistics

    _, instance = pipeline_run
    event = instance.get_latest_materialization_event(dg.AssetKey("price_comparables"))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    table = published("price_comparables")
    estimates = published("price_estimates").set_index("PID")
    implied = table.groupby("PID")["implied_value"].first()
    price = estimates.loc[implied.index, "sale_price"]
    comps = ratio_statistics(implied, price)
    model = ratio_statistics(estimates.loc[implied.index, "estimate"], price)
    assert meta["comps_implied_cod"] == pytest.approx(comps["cod"], rel=1e-9)
    assert meta["comps_implied_median_ape"] == pytest.approx(comps["median_ape"], rel=1e-9)
    assert meta["model_cod_same_subjects"] == pytest.approx(model["cod"], rel=1e-9)
    assert meta["subjects_with_comps"] == len(implied) and meta["subjects"] == 879
    assert meta["flagged_share"] == pytest.approx(table["flagged"].mean())


def test_a_house_with_no_earlier_sale_gets_no_comps_not_an_error(pipeline_run, raw_frame):
    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    first_month = raw_frame[(raw_frame["Yr Sold"] == 2006) & (raw_frame["Mo Sold"] == 1)]
    answer = model.predict(first_month.head(2), params={"comparables": True})
    assert answer["comparables"].tolist() == [[], []]
    assert answer["implied_value"].isna().all() and (answer["estimate"] > 0).all()


def test_the_pyfunc_returns_comparables_when_asked(pipeline_run, raw_frame):
    table = published("price_comparables")
    estimates = published("price_estimates")
    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    pids = estimates["PID"].head(2).tolist()
    houses = raw_frame.set_index("PID").loc[pids].reset_index()
    answer = model.predict(houses, params={"comparables": True, "explain": True})
    for pid, (_, row) in zip(pids, answer.iterrows(), strict=True):
        mine = table[table["PID"] == pid]
        assert [c["comp_pid"] for c in row["comparables"]] == mine["comp_pid"].tolist()
        np.testing.assert_allclose(
            [c["adjusted_price"] for c in row["comparables"]], mine["adjusted_price"], rtol=1e-9
        )
        assert row["implied_value"] == pytest.approx(mine["implied_value"].iloc[0], rel=1e-9)
        assert len(row["reasons"]) == 11


def test_split_sales_pool_is_the_training_split(raw_frame):
    from housing_assets.lib.ml.workflow import known_sales

    split = split_sales(raw_frame)
    pool = known_sales(split.training)
    assert len(pool.pid) == len(split.X_train)
    assert set(pool.pid) == set(split.pid.loc[split.X_train.index])


def test_a_failed_audit_of_either_explained_table_publishes_neither(
    tmp_path, golden_state, monkeypatch
):
    """With the reasons' tolerance below zero every house fails `contributions_add_up_to_
    estimate`: the step fails naming it, and both published tables and the valuation page
    stay as they were."""
    import dagster as dg

    from housing_assets.definitions import defs
    from housing_assets.resources import (
        MlflowTracking,
        SubjectsSource,
        WarehouseIOManager,
        warehouse,
    )

    home = golden_state(tmp_path / "home")
    monkeypatch.setenv("HOUSING_HOME", str(home))
    database = settings.pipeline_warehouse_path(home)

    def tables() -> dict:
        with duckdb.connect(str(database), read_only=True) as connection:
            return {
                name: connection.execute(f"select * from housing.{name}").fetchdf()
                for name in ("price_reasons", "price_comparables")
            }

    before = tables()
    pages = sorted((home / "reports" / "valuations").glob("*.html"))
    assert pages
    page = pages[0].read_bytes()
    monkeypatch.setattr(quality, "REASONS_TOLERANCE", -1.0)
    store = warehouse(home)
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or ())],
        selection=[dg.AssetKey("price_reasons"), dg.AssetKey("price_comparables")],
        resources={
            **defs.resources,
            "io_manager": WarehouseIOManager(warehouse=store),
            "warehouse": store,
            "subjects": SubjectsSource(),
            "mlflow": MlflowTracking(),
        },
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "contributions_add_up_to_estimate" in message and "observed 879" in message
    assert (
        "price_reasons and price_comparables failed 1 blocking check(s), so neither new table "
        "was published and the previous ones stay"
    ) in message
    after = tables()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, check_like=False)
    assert pages[0].read_bytes() == page
    assert not result.get_asset_materialization_events()


def test_the_known_sales_figures_are_kept_with_the_champion_and_change_nothing(
    pipeline_run, raw_frame
):
    """The first run to explain with a version logs its known sales' estimates and
    contributions to the version's run; comparables from them equal comparables computed
    afresh, and figures of other sales are not used."""
    from housing_assets.lib.registry.known_sales import read_known_sales

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    valuation = mlflow.pyfunc.load_model(
        f"models:/{settings.REGISTERED_MODEL}@champion"
    ).unwrap_python_model()
    pool = valuation.pool
    known = read_known_sales(client, champion.run_id, pool.pid)
    assert known is not None, "logged by the session's run"
    estimate, contributions = known
    assert contributions.shape == (
        len(pool.pid),
        len(valuation.contributions(pool.X.head(1)).features),
    )
    np.testing.assert_allclose(estimate, valuation.ranges(pool.X)["estimate"], rtol=1e-12)
    assert read_known_sales(client, champion.run_id, pool.pid[::-1]) is None
    subjects = sales_of(raw_frame).head(40)
    X = valuation.features(subjects)
    priced = valuation.ranges(X)["estimate"].to_numpy()
    cached = valuation.comparables_from(pool, X, subjects["PID"], priced, known=known)
    fresh = valuation.comparables_from(pool, X, subjects["PID"], priced)
    pd.testing.assert_frame_equal(cached, fresh, rtol=1e-10)
