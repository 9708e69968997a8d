"""Cleaning functions on hand-made frames, with exact expected outputs."""

import numpy as np
import pandas as pd
import pytest

from housing_assets.lib.data.cleaning import (
    add_zscores,
    clean_housing,
    drop_duplicate_pids,
    fill_absent_features,
    fix_dtypes,
    impute_lot_frontage_by_neighborhood,
    sales,
)
from housing_assets.lib.data.columns import AMES_COLUMNS
from housing_assets.lib.data.features import FEATURES, house_features


def test_drop_duplicate_pids_keeps_first():
    frame = pd.DataFrame({"PID": [1, 2, 1, 3, 2], "SalePrice": [10, 20, 30, 40, 50]})
    kept, dropped = drop_duplicate_pids(frame)
    assert dropped == 2
    assert kept["SalePrice"].tolist() == [10, 20, 40]
    assert kept.index.tolist() == [0, 1, 2]


def test_a_feed_without_duplicates_keeps_every_row_and_its_own_frame():
    frame = pd.DataFrame({"PID": [5, 6, 7], "SalePrice": [10, 20, 30]}, index=[4, 9, 2])
    kept, dropped = drop_duplicate_pids(frame)
    assert dropped == 0 and kept is not frame
    assert kept.index.tolist() == [0, 1, 2] and frame.index.tolist() == [4, 9, 2]
    # the same arrays, not copies of them: a column assigned to the result replaces it there
    assert np.shares_memory(kept["SalePrice"].to_numpy(), frame["SalePrice"].to_numpy())
    kept["SalePrice"] = [0, 0, 0]
    assert frame["SalePrice"].tolist() == [10, 20, 30]


def test_impute_lot_frontage_by_neighborhood():
    frame = pd.DataFrame(
        {
            "Neighborhood": ["A", "A", "A", "B", "B", "C"],
            "Lot Frontage": [60.0, 80.0, np.nan, 100.0, np.nan, np.nan],
        }
    )
    filled = impute_lot_frontage_by_neighborhood(frame)
    # A's median is 70, B's is 100; C has no known value and gets the overall median (80).
    assert filled["Lot Frontage"].tolist() == [60.0, 80.0, 70.0, 100.0, 100.0, 80.0]


def _absent_frame() -> pd.DataFrame:
    """Three houses: no basement, a basement with an unknown exposure, a full record."""
    base = {column: [np.nan] * 3 for column in AMES_COLUMNS}
    frame = pd.DataFrame(base)
    frame["Bsmt Qual"] = [np.nan, "Gd", "TA"]
    frame["Bsmt Cond"] = [np.nan, "TA", "TA"]
    frame["Bsmt Exposure"] = [np.nan, np.nan, "No"]
    frame["Total Bsmt SF"] = [np.nan, 800.0, 900.0]
    frame["BsmtFin SF 1"] = [np.nan, 100.0, 0.0]
    frame["Garage Type"] = [np.nan, "Attchd", "Detchd"]
    frame["Garage Area"] = [0.0, 400.0, np.nan]
    frame["Garage Yr Blt"] = [np.nan, 1999.0, np.nan]
    frame["Year Built"] = [1950, 1990, 2001]
    frame["Mas Vnr Type"] = [np.nan, np.nan, "Stone"]
    frame["Mas Vnr Area"] = [np.nan, 120.0, 80.0]
    return frame


def test_fill_absent_features_separates_none_from_missing():
    frame = _absent_frame()
    changed, counts = fill_absent_features(frame)
    filled = frame.assign(**changed)
    # only the columns a rule filled are returned (categories always, as text)
    assert "Garage Area" not in changed and "Year Built" not in changed
    assert filled["Bsmt Qual"].tolist()[0] == "None"
    assert filled["Bsmt Exposure"].tolist()[:2] == ["None", None] or pd.isna(
        filled["Bsmt Exposure"].iloc[1]
    )
    assert filled.loc[0, "Total Bsmt SF"] == 0 and filled.loc[0, "BsmtFin SF 1"] == 0
    # House 1 has a basement: its unknown exposure stays missing, for real imputation.
    assert pd.isna(filled.loc[1, "Bsmt Exposure"])
    # House 0 has no garage (area 0): None and 0; house 2's garage has an unknown area.
    assert filled.loc[0, "Garage Type"] == "None" and filled.loc[0, "Garage Finish"] == "None"
    assert filled.loc[0, "Garage Cars"] == 0
    assert pd.isna(filled.loc[2, "Garage Area"])
    # Veneer type unknown but area 120 > 0: genuinely missing, not "None".
    assert filled["Mas Vnr Type"].tolist()[0] == "None"
    assert pd.isna(filled.loc[1, "Mas Vnr Type"])
    assert filled.loc[0, "Mas Vnr Area"] == 0
    # A missing garage year is the year the house was built.
    assert filled["Garage Yr Blt"].tolist() == [1950, 1999, 2001]
    assert counts["Bsmt Qual"] == 1 and counts["Garage Yr Blt"] == 2
    assert counts["Alley"] == 3 and counts["Pool QC"] == 3


def test_fix_dtypes_codes_and_whitespace():
    frame = pd.DataFrame({column: ["x", "y"] for column in AMES_COLUMNS})
    frame["MS SubClass"] = [20.0, 160.0]
    frame["Sale Type"] = ["WD ", " New"]
    fixed = fix_dtypes(frame)
    assert fixed["MS SubClass"].tolist() == ["20", "160"]
    assert fixed["Sale Type"].tolist() == ["WD", "New"]


def test_add_zscores_exact_and_constant():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]})
    scored = add_zscores(frame, ["a", "b"])
    std = np.sqrt(2 / 3)
    assert scored["a z-score"].tolist() == pytest.approx([-1 / std, 0.0, 1 / std])
    assert scored["b z-score"].tolist() == [0.0, 0.0, 0.0]


def test_the_cleaned_table_is_the_feature_rows_with_gaps_imputed(raw_frame):
    """No marker column to parse back: the cleaned table is the models' rows plus imputation."""
    cleaned = clean_housing(raw_frame).frame
    features = house_features(sales(raw_frame))
    assert "imputed_columns" not in cleaned.columns
    assert list(features.columns) == list(FEATURES) and features.index.equals(cleaned.index)
    gaps = features["Lot Frontage"].isna()
    assert gaps.sum() == 490  # genuine gaps stay for the models' own imputation
    kept = ~gaps
    np.testing.assert_array_equal(
        cleaned.loc[kept, "Lot Frontage"].to_numpy(float), features.loc[kept, "Lot Frontage"]
    )
    # every value the features have is the cleaned table's, exactly (numbers and levels)
    for column in FEATURES:
        present = features[column].notna()
        left, right = cleaned.loc[present, column], features.loc[present, column]
        if pd.api.types.is_numeric_dtype(right):
            np.testing.assert_array_equal(left.to_numpy(float), right.to_numpy(float), column)
        else:
            assert left.tolist() == right.tolist(), column
    # the real data's other genuine gaps, each imputed in the cleaned table only
    assert features.isna().sum()[lambda n: n > 0].to_dict() == {
        "Lot Frontage": 490, "Garage Cars": 1, "Garage Area": 1, "Garage Qual": 2,
        "Garage Cond": 2, "Bsmt Exposure": 3, "BsmtFin Type 2": 1, "Garage Finish": 2,
        "Mas Vnr Type": 7, "Electrical": 1,
    }  # fmt: skip


def test_a_derived_feature_with_a_gap_in_its_inputs_is_imputed_not_derived_again(raw_frame):
    frame = raw_frame.head(3).copy()
    frame["Total Bsmt SF"] = [800.0, 900.0, 1000.0]
    frame["1st Flr SF"] = [1000.0, None, 1200.0]
    frame["2nd Flr SF"] = [0.0, 0.0, 500.0]
    features = house_features(sales(frame))
    assert features["Total SF"].tolist()[::2] == [1800.0, 2700.0]
    assert np.isnan(features["Total SF"].iloc[1])
    cleaned = clean_housing(frame).frame
    assert cleaned["Total SF"].tolist() == [1800, 2250, 2700]  # the median of the others
    assert cleaned["1st Flr SF"].tolist() == [1000, 1100, 1200]


def test_clean_real_data(raw_frame):
    result = clean_housing(raw_frame)
    cleaned = result.frame
    assert len(cleaned) == 2930 and result.duplicates_dropped == 0
    assert int(cleaned.isna().sum().sum()) == 0
    assert result.imputed["Lot Frontage"] == 490
    assert result.filled_as_absent["Pool QC"] == 2917
    assert result.filled_as_absent["Garage Type"] == 157
    assert cleaned["MS SubClass"].map(type).eq(str).all()
    assert cleaned["Gr Liv Area z-score"].mean() == pytest.approx(0, abs=1e-9)
    assert cleaned["Gr Liv Area z-score"].std(ddof=0) == pytest.approx(1)
    total = cleaned["Total Bsmt SF"] + cleaned["1st Flr SF"] + cleaned["2nd Flr SF"]
    assert (cleaned["Total SF"] == total).all()


def test_a_few_values_are_written_as_text_exactly_as_many_are():
    """One house's levels are written value by value, a table's by its distinct values: the
    same text either way, gaps as None and an equal earlier value's text for 1.0."""
    from housing_assets.lib.data.cleaning import FEW_VALUES, category_text

    few = np.array(["WD ", None, np.nan, " New", 1, 1.0, pd.NA], dtype=object)
    many = np.tile(few, FEW_VALUES // len(few) + 1)
    assert len(many) > FEW_VALUES
    assert category_text(few).tolist() == ["WD", None, None, "New", "1", "1", None]
    assert category_text(many).tolist() == category_text(few).tolist() * (len(many) // len(few))
    codes = np.array([20.0, None, 160.0], dtype=object)
    assert category_text(codes, code=True).tolist() == ["20", None, "160"]
    assert category_text(np.tile(codes, 30), code=True).tolist() == ["20", None, "160"] * 30
