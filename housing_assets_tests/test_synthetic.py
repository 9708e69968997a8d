"""The scale-test generator keeps the shape, dtypes and distributions of the real data."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from housing_assets.lib.data.columns import AMES_COLUMNS
from housing_assets.lib.data.ingest import load_source
from housing_assets.lib.data.synthetic import (
    FIRST_SYNTHETIC_PID,
    resample_housing,
    write_like_source,
)


@pytest.fixture(scope="module")
def tenfold(raw_frame):
    return resample_housing(raw_frame, 10, seed=1)


def test_shape_ids_and_columns(raw_frame, tenfold):
    assert tenfold.shape == (29_300, 82)
    assert tuple(tenfold.columns) == AMES_COLUMNS
    assert tenfold["PID"].is_unique and tenfold["PID"].min() == FIRST_SYNTHETIC_PID
    assert not set(tenfold["PID"]) & set(raw_frame["PID"])
    assert tenfold["Order"].tolist() == list(range(1, 29_301))


def test_dtypes_survive_a_round_trip_through_csv(raw_frame, tenfold, tmp_path):
    path = tmp_path / "ames_x10.csv"
    write_like_source(tenfold, path)
    parsed = load_source(str(path)).frame
    assert parsed.shape == (29_300, 82)
    assert parsed.dtypes.to_dict() == raw_frame.dtypes.to_dict()


def test_distributions_stay_close(raw_frame, tenfold):
    for column in ("SalePrice", "Gr Liv Area", "Lot Area", "Year Built"):
        assert ks_2samp(raw_frame[column], tenfold[column]).statistic < 0.03, column
    assert tenfold["SalePrice"].median() == pytest.approx(raw_frame["SalePrice"].median(), rel=0.03)
    assert (tenfold["SalePrice"] > 0).all()
    # the share of missing values is kept where there is no noise
    assert tenfold["Alley"].isna().mean() == pytest.approx(
        raw_frame["Alley"].isna().mean(), abs=0.01
    )
    assert tenfold["Lot Frontage"].isna().mean() == pytest.approx(
        raw_frame["Lot Frontage"].isna().mean(), abs=0.01
    )
    # categories and counts are drawn, not invented
    assert set(tenfold["Neighborhood"]) <= set(raw_frame["Neighborhood"])
    assert set(tenfold["Full Bath"]) <= set(raw_frame["Full Bath"])


def test_noise_is_small_and_not_zero(raw_frame):
    one = resample_housing(raw_frame.head(1), 1000, seed=2)
    prices = one["SalePrice"].to_numpy(float)
    relative = prices / raw_frame["SalePrice"].iloc[0] - 1
    assert 0.02 < np.std(relative) < 0.04


def test_scale_must_be_positive(raw_frame):
    with pytest.raises(ValueError, match="scale must be a positive whole number, got 0"):
        resample_housing(raw_frame, 0)


def test_samples_are_capped_and_fixed(raw_frame, tenfold):
    """At scale, tuning and charts use a fixed sample; the real data is used whole."""
    from housing_assets.lib.analysis import charts
    from housing_assets.lib.data.frames import fixed_sample
    from housing_assets.lib.ml import workflow
    from housing_assets.lib.ml.split import sample_rows

    X, y = tenfold.drop(columns="SalePrice"), tenfold["SalePrice"]
    X_tune, y_tune = sample_rows(X, y, 1000)
    assert len(X_tune) == 1000 and (X_tune.index == y_tune.index).all()
    assert list(sample_rows(X, y, 1000)[0].index) == list(X_tune.index)
    assert list(fixed_sample(X, 1000).index) == list(X_tune.index)
    small_X, _ = sample_rows(X.head(999), y.head(999), 1000)
    assert len(small_X) == 999
    assert len(X) > workflow.TUNING_MAX_ROWS  # the 10x frame is sampled for the grid search

    assert len(charts.chart_rows(tenfold)) == charts.CHART_MAX_ROWS
    assert charts.chart_rows(raw_frame) is raw_frame
