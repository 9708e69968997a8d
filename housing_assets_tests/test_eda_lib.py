"""EDA statistics on small hand-made frames, where every coefficient is known exactly."""

import math

import numpy as np
import pandas as pd
import pytest

from housing_assets.lib.analysis.eda import (
    CRAMERS_V,
    ETA,
    EdaInputError,
    MissingCounts,
    SkippedColumn,
    band_summary,
    categorical_numeric_associations,
    categorical_pair_associations,
    correlation_matrix,
    correlation_ratio,
    cramers_v_bias_corrected,
    feature_importance,
    importance_pids,
    long_correlations,
    missing_before_cleaning,
    permutation_r2_drops,
    rank_agreement,
    require_rows,
    require_usable_target,
    run_eda,
    target_correlations,
    top_associations,
    usable_columns,
)
from housing_assets.lib.data.encoding import encoding_summary

EXACT = 1e-12


def linear_frame(n: int = 60) -> pd.DataFrame:
    x = np.arange(1, n + 1, dtype=float)
    return pd.DataFrame(
        {
            "Gr Liv Area": x,
            "House Age": -3 * x,
            "Lot Area": x**3,  # monotonic, not linear: Spearman 1, Pearson below 1
            "SalePrice": 2 * x + 3,
        }
    )


# --- input checks ----------------------------------------------------------------------------


def test_fewer_than_50_rows_fail_with_a_clear_message():
    with pytest.raises(EdaInputError, match="at least 50 sales but the table has 49 rows"):
        require_rows(linear_frame(49))
    require_rows(linear_frame(50))


def test_run_eda_rejects_a_small_table_before_computing_anything():
    small = linear_frame(10)
    with pytest.raises(EdaInputError, match="at least 50 sales but the table has 10 rows"):
        run_eda(MissingCounts.of(small), small, small, small)
    # the asset picks its importance sample first: that fails the same way, not in sklearn
    with pytest.raises(EdaInputError, match="at least 50 sales but the table has 0 rows"):
        importance_pids(small.assign(PID=range(10)).head(0))


@pytest.mark.parametrize(
    ("prices", "reason"),
    [
        ([np.nan] * 60, "all values missing"),
        ([100_000.0] * 60, "constant: every value is 100000.0"),
    ],
)
def test_an_unusable_target_fails_with_the_reason(prices, reason):
    frame = linear_frame().assign(SalePrice=prices)
    with pytest.raises(EdaInputError, match=f"'SalePrice' cannot be analysed: {reason}"):
        require_usable_target(frame)


def test_constant_all_missing_and_text_columns_are_skipped_with_the_reason():
    frame = linear_frame().assign(
        **{"Pool Area": 0, "Misc Val": np.nan, "Street": "Pave", "Alley": None}
    )
    usable, skipped = usable_columns(
        frame,
        ["Gr Liv Area", "Pool Area", "Misc Val", "Street", "Fence"],
        "correlations",
        numeric=True,
    )
    assert usable == ["Gr Liv Area"]
    assert skipped == [
        SkippedColumn("Pool Area", "correlations", "constant: every value is 0"),
        SkippedColumn("Misc Val", "correlations", "all values missing"),
        SkippedColumn("Street", "correlations", "not numeric (dtype object)"),
        SkippedColumn("Fence", "correlations", "not in the table"),
    ]
    _, skipped = usable_columns(frame, ["Street", "Alley"], "categorical associations")
    assert skipped == [
        SkippedColumn("Street", "categorical associations", "constant: every value is Pave"),
        SkippedColumn("Alley", "categorical associations", "all values missing"),
    ]


# --- correlations ----------------------------------------------------------------------------


def test_target_correlations_are_exact_on_perfectly_related_columns():
    table = target_correlations(linear_frame(), ["Lot Area", "Gr Liv Area", "House Age"])
    assert list(table["feature"][:2]) in (
        ["Gr Liv Area", "House Age"],
        ["House Age", "Gr Liv Area"],
    )
    by_feature = table.set_index("feature")
    assert by_feature.loc["Gr Liv Area", "pearson"] == pytest.approx(1.0, abs=EXACT)
    assert by_feature.loc["Gr Liv Area", "spearman"] == pytest.approx(1.0, abs=EXACT)
    assert by_feature.loc["House Age", "pearson"] == pytest.approx(-1.0, abs=EXACT)
    assert by_feature.loc["House Age", "spearman"] == pytest.approx(-1.0, abs=EXACT)
    assert by_feature.loc["Lot Area", "spearman"] == pytest.approx(1.0, abs=EXACT)
    assert by_feature.loc["Lot Area", "pearson"] < 0.95
    assert list(table["rows"]) == [60, 60, 60]


def test_correlations_use_the_rows_where_both_values_are_present():
    frame = linear_frame()
    frame.loc[:9, "Gr Liv Area"] = np.nan
    frame.loc[50:, "Gr Liv Area"] = 0.0  # breaks the line only where the value is present
    row = target_correlations(frame, ["Gr Liv Area"]).iloc[0]
    assert row["rows"] == 50
    expected = frame["Gr Liv Area"].corr(frame["SalePrice"])
    assert row["pearson"] == expected


def test_matrix_in_long_form_holds_every_pair_of_both_methods():
    frame = linear_frame()
    columns = ["Gr Liv Area", "House Age", "SalePrice"]
    long = long_correlations(
        correlation_matrix(frame, columns, "pearson"),
        correlation_matrix(frame, columns, "spearman"),
    )
    assert list(long.columns) == ["feature_a", "feature_b", "pearson", "spearman"]
    assert len(long) == 9
    pair = long[(long["feature_a"] == "House Age") & (long["feature_b"] == "SalePrice")].iloc[0]
    assert pair["pearson"] == pytest.approx(-1.0, abs=EXACT)
    assert pair["spearman"] == pytest.approx(-1.0, abs=EXACT)


# --- correlation ratio and Cramer's V ----------------------------------------------------------


def test_correlation_ratio_known_values():
    # Group means 2 and 6 around 4: between SS 16, total SS 20, eta = sqrt(0.8).
    assert correlation_ratio(pd.Series(list("aabb")), pd.Series([1.0, 3, 5, 7])) == pytest.approx(
        math.sqrt(0.8), abs=EXACT
    )


def test_correlation_ratio_of_a_perfectly_separating_category_is_one():
    categories = pd.Series(["low"] * 30 + ["high"] * 30)
    values = pd.Series([100_000.0] * 30 + [300_000.0] * 30)
    assert correlation_ratio(categories, values) == pytest.approx(1.0, abs=EXACT)


def test_correlation_ratio_of_equal_group_means_is_zero():
    assert correlation_ratio(pd.Series(list("abab")), pd.Series([1.0, 2, 2, 1])) == 0.0


def test_correlation_ratio_leaves_out_missing_values_and_is_undefined_for_a_constant():
    categories = pd.Series(["a", "a", "b", "b", None, "b"])
    values = pd.Series([1.0, 3, 5, 7, 100, np.nan])
    assert correlation_ratio(categories, values) == pytest.approx(math.sqrt(0.8), abs=EXACT)
    assert math.isnan(correlation_ratio(pd.Series(list("abab")), pd.Series([5.0] * 4)))


def test_cramers_v_of_identical_columns_is_one():
    levels = pd.Series(["RL"] * 50 + ["RM"] * 30 + ["FV"] * 20)
    assert cramers_v_bias_corrected(levels, levels.copy()) == pytest.approx(1.0, abs=EXACT)


def test_cramers_v_of_independent_balanced_categories_is_zero():
    a = pd.Series(["x", "x", "y", "y"] * 25)
    b = pd.Series(["u", "v", "u", "v"] * 25)
    assert cramers_v_bias_corrected(a, b) == 0.0


def test_cramers_v_of_independent_random_categories_is_about_zero():
    rng = np.random.default_rng(0)
    a = pd.Series(rng.choice(list("abcde"), 2000))
    b = pd.Series(rng.choice(list("uvwxyz"), 2000))
    assert cramers_v_bias_corrected(a, b) < 0.03


def test_cramers_v_bias_correction_on_a_known_table():
    # 2x2 table [[30, 10], [10, 30]], n = 80: chi2 = 20, phi2 = 1/4;
    # corrected: (1/4 - 1/79) / (1 - 1/79) = 18.75 / 78.
    a = pd.Series(["x"] * 40 + ["y"] * 40)
    b = pd.Series(["u"] * 30 + ["v"] * 10 + ["u"] * 10 + ["v"] * 30)
    assert cramers_v_bias_corrected(a, b) == pytest.approx(math.sqrt(18.75 / 78), abs=EXACT)


def test_association_tables_rank_the_target_first_and_strongest_first():
    frame = pd.DataFrame(
        {
            "Neighborhood": ["A"] * 30 + ["B"] * 30,
            "Street": ["Pave", "Grvl"] * 30,
            "Alley": ["A"] * 30 + ["B"] * 30,
            "Lot Area": np.tile([1.0, 2.0], 30),
            "SalePrice": [100.0] * 30 + [200.0] * 30,
        }
    )
    eta = categorical_numeric_associations(
        frame, ["Neighborhood", "Street"], ["SalePrice", "Lot Area"]
    )
    assert list(eta["feature_b"][:2]) == ["SalePrice", "SalePrice"]
    assert eta.iloc[0][["measure", "feature_a"]].tolist() == [ETA, "Neighborhood"]
    assert eta.iloc[0]["value"] == pytest.approx(1.0, abs=EXACT)
    assert eta.iloc[1]["value"] == 0.0
    street_lot = eta[(eta["feature_a"] == "Street") & (eta["feature_b"] == "Lot Area")]
    assert street_lot["value"].iloc[0] == pytest.approx(1.0, abs=EXACT)
    cramers = categorical_pair_associations(frame, ["Neighborhood", "Street", "Alley"])
    assert len(cramers) == 3
    assert cramers.iloc[0][["measure", "feature_a", "feature_b"]].tolist() == [
        CRAMERS_V,
        "Neighborhood",
        "Alley",
    ]
    assert cramers.iloc[0]["value"] == pytest.approx(1.0, abs=EXACT)
    top = top_associations(eta, cramers, n=1)
    assert top[["kind", "rank", "feature_a", "feature_b"]].values.tolist() == [
        ["category vs SalePrice", 1, "Neighborhood", "SalePrice"],
        ["category vs numeric feature", 1, "Street", "Lot Area"],
        ["category vs category", 1, "Neighborhood", "Alley"],
    ]


# --- bands, encoding, missing values -----------------------------------------------------------


def test_band_summary_counts_and_median_prices_exactly():
    bands = {
        "Gr Liv Area": ([0, 1000, 2000, np.inf], ["small", "medium", "large"]),
        "Year Built": ([-np.inf, 1950, np.inf], ["old", "new"]),
    }
    encoded = pd.DataFrame(
        {
            "Gr Liv Area band": ["small", "small", "small", "large", "large"],
            "Year Built band": ["old", "new", "new", "new", "new"],
            "SalePrice": [100.0, 120.0, 200.0, 300.0, 400.0],
        }
    )
    table = band_summary(encoded, bands)
    assert table[["binned_column", "band_order", "band", "sales"]].values.tolist() == [
        ["Gr Liv Area", 1, "small", 3],
        ["Gr Liv Area", 2, "medium", 0],
        ["Gr Liv Area", 3, "large", 2],
        ["Year Built", 1, "old", 1],
        ["Year Built", 2, "new", 4],
    ]
    medians = table["median_price"].tolist()
    assert medians[0] == 120.0 and math.isnan(medians[1]) and medians[2:] == [350.0, 100.0, 250.0]
    assert table["share_of_sales"].tolist() == [0.6, 0.0, 0.4, 0.2, 0.8]


def test_encoding_summary_reads_rare_levels_back_from_the_one_hot_columns():
    cleaned = pd.DataFrame(
        {
            "MS Zoning": ["RL", "RL", "RM", "C (all)", "A (agr)"],
            "Exterior 2nd": ["VinylSd", "VinylSd", "VinylSd", "Other", "VinylSd"],
            "Exter Qual": ["TA", "Gd", "TA", "Ex", "Fa"],
        }
    )
    encoded = pd.DataFrame(
        {
            "Exter Qual": [3, 4, 3, 5, 2],
            "MS Zoning=Other": [0, 0, 0, 1, 1],
            "MS Zoning=RL": [1, 1, 0, 0, 0],
            "MS Zoning=RM": [0, 0, 1, 0, 0],
            # A genuine level "Other" rarer than 1% counts as grouped; here it is 20%.
            "Exterior 2nd=Other": [0, 0, 0, 1, 0],
            "Exterior 2nd=VinylSd": [1, 1, 1, 0, 1],
            "Gr Liv Area band": ["small"] * 5,
        }
    )
    assert encoding_summary(cleaned, encoded).values.tolist() == [
        ["Exter Qual", "ordinal rank", 6, ""],
        ["MS Zoning", "one-hot", 3, "A (agr), C (all)"],
        ["Exterior 2nd", "one-hot", 2, ""],
        ["Gr Liv Area", "bands", 5, ""],
    ]


def test_missing_before_cleaning_counts_and_meaning():
    raw = pd.DataFrame(
        {
            "Pool QC": [None, None, None, "Ex"],
            "Lot Frontage": [None, 60.0, 70.0, 80.0],
            "Gr Liv Area": [1000, 1200, 1300, 1400],
        }
    )
    assert missing_before_cleaning(MissingCounts.of(raw)).values.tolist() == [
        ["Pool QC", 3, 75.0, "house has none (documented)"],
        ["Lot Frontage", 1, 25.0, "missing value"],
    ]


# --- feature importance ----------------------------------------------------------------------


def importance_frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    area = rng.uniform(800, 3000, n)
    quality = rng.integers(1, 11, n)
    return pd.DataFrame(
        {
            "Gr Liv Area": area,
            "Overall Qual": quality,
            "Mo Sold": rng.integers(1, 13, n),  # noise
            "Lot Area": 9000,  # constant
            "Pool Area": np.nan,  # all missing
            "Neighborhood": rng.choice(["NAmes", "CollgCr"], n),
            "SalePrice": 50 * area * (1 + quality / 5),
        }
    )


def test_importance_skips_constant_and_missing_columns_and_ranks_the_signal_first():
    frame = importance_frame()
    train = frame.index[:84]
    importance, skipped = feature_importance(frame, frame["SalePrice"], train)
    assert skipped == [
        SkippedColumn(
            "Lot Area", "feature importance (training rows)", "constant: every value is 9000.0"
        ),
        SkippedColumn("Pool Area", "feature importance (training rows)", "all values missing"),
    ]
    table = importance.table
    assert sorted(table["feature"]) == ["Gr Liv Area", "Mo Sold", "Neighborhood", "Overall Qual"]
    assert set(table.nsmallest(2, "mi_rank")["feature"]) == {"Gr Liv Area", "Overall Qual"}
    assert set(table.nsmallest(2, "permutation_rank")["feature"]) == {"Gr Liv Area", "Overall Qual"}
    assert importance.training_rows == 84
    assert -1.0 <= importance.rank_agreement <= 1.0


def test_importance_never_sees_the_rows_outside_the_training_index():
    frame = importance_frame()
    train = frame.index[:84]
    before, _ = feature_importance(frame, frame["SalePrice"], train)
    scrambled = frame.copy()
    scrambled.loc[84:, "SalePrice"] = scrambled.loc[84:, "SalePrice"].to_numpy()[::-1]
    scrambled.loc[84:, "Gr Liv Area"] = 0.0
    after, _ = feature_importance(scrambled, scrambled["SalePrice"], train)
    pd.testing.assert_frame_equal(before.table, after.table)


def test_rank_agreement_of_identical_and_reversed_scores():
    scores = pd.Series([0.9, 0.5, 0.1, 0.05])
    assert rank_agreement(scores, scores * 10) == pytest.approx(1.0, abs=EXACT)
    assert rank_agreement(scores, -scores) == pytest.approx(-1.0, abs=EXACT)
    assert math.isnan(rank_agreement(scores[:2], scores[:2]))


@pytest.mark.parametrize("repeats", [1, 3])
def test_batched_permutation_equals_sklearns_permutation_importance(repeats):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))  # 20 features: two batches of PERMUTATION_BATCH_FEATURES
    y = 3 * X[:, 0] - 2 * X[:, 5] + X[:, 17] ** 2 + rng.normal(scale=0.1, size=300)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    ours = permutation_r2_drops(model, X, y, n_repeats=repeats, random_state=42)
    theirs = permutation_importance(model, X, y, n_repeats=repeats, random_state=42)
    np.testing.assert_allclose(ours, theirs.importances, rtol=1e-12, atol=1e-12)
    assert set(np.argsort(-ours.mean(axis=1))[:3]) == {0, 5, 17}


@pytest.mark.parametrize("target", ["constant", "nearly constant"])
def test_batched_permutation_follows_sklearn_on_a_constant_target(target):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    y = np.full(120, 5.0) if target == "constant" else np.r_[np.full(119, 5.0), 5.0 + 1e-9]
    model = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(X, y)
    ours = permutation_r2_drops(model, X, y, n_repeats=2, random_state=42)
    theirs = permutation_importance(model, X, y, n_repeats=2, random_state=42)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, theirs.importances, atol=1e-12)
