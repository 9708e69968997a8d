"""The Kaggle copy's naming, read as De Cock's file: a file made by renaming the shipped file's
columns the way Kaggle does gives the same raw and cleaned tables."""

import pandas as pd
import pytest

from housing_assets.lib.data.cleaning import clean_housing
from housing_assets.lib.data.ingest import MissingColumnsError, load_source
from housing_assets.lib.data.naming import DE_COCK, KAGGLE


def kaggle_copy(ames_csv, path, priced: bool = True, extra: dict | None = None):
    """The shipped file as Kaggle writes it: no spaces or slashes, `Id` for `PID`, no `Order`,
    and NA in every empty cell (an absent feature or a gap)."""
    frame = pd.read_csv(ames_csv, dtype=str, keep_default_na=False).replace("", "NA")
    frame = frame.drop(columns=["Order"]).rename(columns={"PID": "Id"})
    frame = frame.rename(columns=lambda c: c.replace(" ", "").replace("/", ""))
    if not priced:
        frame = frame.drop(columns=["SalePrice"])
    for name, values in (extra or {}).items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


def test_a_kaggle_named_file_gives_the_same_tables(ames_csv, tmp_path):
    shipped = load_source(str(ames_csv))
    kaggle = load_source(str(kaggle_copy(ames_csv, tmp_path / "train.csv")))
    assert (shipped.naming, kaggle.naming) == (DE_COCK, KAGGLE)
    assert "GrLivArea" in pd.read_csv(tmp_path / "train.csv", nrows=0).columns
    written = pd.read_csv(tmp_path / "train.csv", dtype=str, keep_default_na=False)
    assert (written["LotFrontage"] == "NA").sum() == 490
    assert (written["Alley"] == "NA").sum() > 2000  # most houses have no alley
    pd.testing.assert_frame_equal(kaggle.frame, shipped.frame)
    pd.testing.assert_frame_equal(
        clean_housing(kaggle.frame).frame, clean_housing(shipped.frame).frame
    )


def test_a_kaggle_test_file_without_prices_reads_as_houses_to_value(ames_csv, tmp_path):
    path = kaggle_copy(ames_csv, tmp_path / "test.csv", priced=False, extra={"Source": "kaggle"})
    with pytest.raises(
        MissingColumnsError,
        match=r"lacks 1 required column\(s\): SalePrice; read "
        r"in Kaggle .* naming, whose column\(s\) Source match no De Cock column",
    ):
        load_source(str(path))  # as sales, a price is required
    houses = load_source(str(path), priced=False)
    assert houses.unmapped == ("Source",)
    assert houses.frame["SalePrice"].isna().all()
    expected = load_source(str(ames_csv)).frame.drop(columns=["SalePrice"])
    pd.testing.assert_frame_equal(houses.frame.drop(columns=["SalePrice"]), expected)
