"""Price-banded, asymmetric conformal ranges on hand-made scores (`lib.ml.ranges`)."""

import numpy as np
import pytest

from housing_assets.lib.ml.ranges import (
    IntervalCalibration,
    band_of,
    banded_calibration,
    conformal_quantile,
    price_bands,
)


class ConstantSigma:
    """A difficulty model that predicts the same spread for every house."""

    def __init__(self, sigma: float):
        self.sigma = sigma

    def predict(self, features):
        return np.full(len(features), self.sigma)


def test_three_equal_bands_each_with_its_own_lower_and_upper_quantile():
    # 300 calibration rows: the cheapest third miss below twice as far as above (scores to -2 and
    # to +1), the middle third are symmetric, the dearest miss above.
    step = np.arange(1, 101) / 100
    log_estimate = np.concatenate([np.full(100, 11.0), np.full(100, 12.0), np.full(100, 13.0)])
    signed = np.concatenate([
        np.where(np.arange(100) % 2 == 0, -2 * step, step),
        np.where(np.arange(100) % 2 == 0, -step, step),
        np.where(np.arange(100) % 2 == 0, -step, 2 * step),
    ])  # fmt: skip
    sigma = np.full(300, 0.1)
    calibration = banded_calibration(
        ConstantSigma(0.1), signed * sigma, sigma, log_estimate, None, False
    )
    np.testing.assert_array_equal(calibration.band, np.repeat([0, 1, 2], 100))
    # the terciles of the estimates: a third of the way from 11 to 12, and from 12 to 13
    np.testing.assert_allclose(calibration.band_edges, [11 + 2 / 3, 12 + 1 / 3], atol=1e-12)
    lower, upper = calibration.band_quantiles(0.9)
    # each side at 95%: the ceil(101 x 0.95) = 96th smallest of each band's 100 scores
    for b in range(3):
        in_band = calibration.band == b
        assert lower[b] == conformal_quantile(-signed[in_band], 0.95)
        assert upper[b] == conformal_quantile(signed[in_band], 0.95)
    assert lower[0] > 1.5 and upper[0] < 1.0  # the cheap band reaches further down
    assert upper[2] > 1.5 and lower[2] < 1.0
    # a house is in the band of its estimate
    estimate = np.exp(np.array([11.0, 12.0, 13.0]))
    low, high = calibration.interval(np.zeros((3, 1)), estimate, 0.9)
    np.testing.assert_allclose(low, estimate * np.exp(-lower * 0.1), rtol=1e-12)
    np.testing.assert_allclose(high, estimate * np.exp(upper * 0.1), rtol=1e-12)


def test_bands_need_enough_rows_and_a_range_always_holds_its_estimate():
    assert len(price_bands(np.arange(250.0))) == 1  # two bands of 125 rows: one edge
    assert len(price_bands(np.arange(99.0))) == 0  # one band
    edges = price_bands(np.arange(300.0))
    np.testing.assert_allclose(edges, [99.667, 199.333], atol=1e-3)
    assert list(band_of(edges, np.exp([0.0, 150.0, 250.0]))) == [0, 1, 2]
    # every calibration row missed above: the lower quantile would be negative, and is 0
    signed = np.linspace(0.1, 1.0, 50)
    calibration = banded_calibration(
        ConstantSigma(0.2), signed * 0.2, np.full(50, 0.2), np.full(50, 12.0), None, False
    )
    low, high = calibration.interval(np.zeros((1, 1)), np.array([200_000.0]), 0.9)
    assert low[0] == 200_000.0 and high[0] > 200_000.0


def test_a_calibration_without_bands_keeps_one_symmetric_quantile():
    scores = np.linspace(0.0, 2.0, 201)
    old = IntervalCalibration(ConstantSigma(0.1), scores)
    low, high = old.interval(np.zeros((1, 1)), np.array([100_000.0]), 0.9)
    q = conformal_quantile(scores, 0.9)
    assert high[0] == pytest.approx(100_000.0 * np.exp(q * 0.1), rel=1e-12)
    assert low[0] == pytest.approx(100_000.0 / np.exp(q * 0.1), rel=1e-12)


def test_banded_ranges_cover_each_band_of_skewed_misses_at_their_level():
    """Three bands whose misses are skewed down, symmetric and skewed up: calibrated on 30,000
    draws, the ranges cover 90% of 60,000 fresh draws in each band, missing about 5% on each
    side; one symmetric quantile covers the skewed bands unevenly."""
    rng = np.random.default_rng(7)

    def draws(n: int) -> tuple[np.ndarray, np.ndarray]:
        band = rng.integers(0, 3, n)
        noise = rng.standard_normal(n)
        skew = np.select([band == 0, band == 2], [-1.0, 1.0], 0.0)
        residual = 0.1 * (noise + skew * np.abs(rng.standard_normal(n)))
        return 11.0 + band + rng.uniform(0, 0.5, n), residual

    log_estimate, residual = draws(30_000)
    sigma = np.full(len(residual), 0.1)
    calibration = banded_calibration(ConstantSigma(0.1), residual, sigma, log_estimate, None, False)
    fresh_estimate, fresh_residual = draws(60_000)
    estimate = np.exp(fresh_estimate)
    price = estimate * np.exp(fresh_residual)
    low, high = calibration.interval(np.zeros((len(price), 1)), estimate, 0.9)
    plain = IntervalCalibration(ConstantSigma(0.1), np.abs(residual / sigma))
    plain_low, plain_high = plain.interval(np.zeros((len(price), 1)), estimate, 0.9)
    for band in range(3):
        rows = np.floor(fresh_estimate) == 11.0 + band
        below, above = (price[rows] < low[rows]).mean(), (price[rows] > high[rows]).mean()
        assert 0.04 < below < 0.06 and 0.04 < above < 0.06, (band, below, above)
        assert 0.885 < 1 - below - above < 0.915
    skewed = np.floor(fresh_estimate) == 11.0
    missed_below = (price[skewed] < plain_low[skewed]).mean()
    assert missed_below > 0.08, "one symmetric quantile misses the skewed side more often"


def test_tied_estimates_leave_no_band_without_rows():
    # 980 houses at 11, 1,020 at 12, 1,000 at 13: two edges fall on 12, the middle band is empty
    log_estimate = np.repeat([11.0, 12.0, 13.0], [980, 1020, 1000])
    signed = np.linspace(-2, 2, 3000)
    calibration = banded_calibration(
        ConstantSigma(0.1), signed * 0.1, np.full(3000, 0.1), log_estimate, None, False
    )
    assert not (calibration.band == 1).any()
    lower, upper = calibration.band_quantiles(0.9)
    assert lower[1] == conformal_quantile(-signed, 0.95)  # the empty band takes all rows
    assert np.isfinite(lower).all() and np.isfinite(upper).all()
