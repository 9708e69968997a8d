"""Benchmark: how evenly the 90% price ranges cover each kind of house, by two methods.

For each family, one cross-fit and calibration as the model step makes them
(`lib.ml.workflow.cross_fit`, `calibrate`), then two sets of ranges from the same difficulty
model:

- **symmetric**: one conformal quantile of |r| / sigma for every house (the method before the
  price bands);
- **banded**: the served method (`lib.ml.ranges`), a lower and an upper quantile of r / sigma
  within each band of the estimate.

Figures on two sets of sales:

- **training-split nested CV**: the calibration rows' out-of-fold scores, split 5 ways again;
  each fifth is covered by quantiles (and bands) computed from the other four. No test row is
  used, so this is where the method was chosen.
- **test split**: the served ranges on the 879 test sales, once.

Per set: coverage overall and by quartile of the sale price, the neighbourhoods (at least 20
sales) inside 87-93%, and the median width; on the test split also the groups outside the
tolerance of the ratio study's `groups_coverage_near_nominal` check. Then the 90th percentile
of |log residual| out of fold and on the test split, and how many of the test split's
neighbourhoods a range with exactly 90% coverage in every neighbourhood would leave outside
87-93% by chance alone (the binomial law of each neighbourhood's count). With
`--learning-curve`, the out-of-fold percentile with 2 to 20 folds of the training split (50%
to 95% of its rows per model), to tell a test split that is easier from fold models that are
weaker (about a minute more).

    .venv/bin/python benchmarks/bench_ranges.py [--learning-curve]
"""

import argparse
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from housing_assets import settings
from housing_assets.lib.data.ingest import load_source
from housing_assets.lib.ml.families import FAMILIES
from housing_assets.lib.ml.fitting import FIT_JOBS
from housing_assets.lib.ml.ranges import IntervalCalibration, price_bands
from housing_assets.lib.ml.ratio_study import (
    MIN_GROUP_SALES,
    all_sales,
    coverage_outcome,
    price_quartiles,
    ratio_study,
)
from housing_assets.lib.ml.split import split_sales
from housing_assets.lib.ml.workflow import calibrate, cross_fit, scored_sales, split_pids

LEVEL = 0.9
BAND = (0.87, 0.93)


def symmetric(calibration: IntervalCalibration) -> IntervalCalibration:
    return IntervalCalibration(
        calibration.difficulty, calibration.scores, calibration.encoder,
        calibration.shares_encoding,
    )  # fmt: skip


def summary(inside: np.ndarray, price: np.ndarray, neighbourhood: np.ndarray, width) -> str:
    quartile = price_quartiles(pd.Series(price)).to_numpy()
    by_quartile = [100 * inside[quartile == q].mean() for q in ("Q1", "Q2", "Q3", "Q4")]
    counts = pd.Series(neighbourhood).value_counts()
    groups = counts[counts >= MIN_GROUP_SALES].index
    in_band = sum(BAND[0] <= inside[neighbourhood == g].mean() <= BAND[1] for g in groups)
    quartiles = " / ".join(f"{c:.1f}" for c in by_quartile)
    return (
        f"{100 * inside.mean():5.1f}%  quartiles {quartiles} (spread "
        f"{max(by_quartile) - min(by_quartile):.1f})  neighbourhoods in 87-93%: "
        f"{in_band}/{len(groups)}  median width ${np.median(width):,.0f}"
    )


def nested_cv(fitted, calibration: IntervalCalibration, banded: bool) -> str:
    """Each fifth of the calibration rows covered by quantiles from the other four."""
    signed, log_estimate = calibration.signed, fitted.out_of_fold
    sigma = np.abs(np.log(fitted.y_cal.to_numpy(float)) - log_estimate) / calibration.scores
    inside = np.zeros(len(signed), dtype=bool)
    width = np.zeros(len(signed))
    for kept, held in KFold(5, shuffle=True, random_state=7).split(signed):
        edges = price_bands(log_estimate[kept]) if banded else np.array([])
        part = IntervalCalibration(None, np.abs(signed[kept]))
        if banded:
            band = np.searchsorted(edges, log_estimate[kept])
            part = part._replace(signed=signed[kept], band=band, band_edges=edges)
        lower, upper = part.band_quantiles(LEVEL)
        band = np.searchsorted(edges, log_estimate[held])
        low, high = -lower[band] * sigma[held], upper[band] * sigma[held]
        residual = signed[held] * sigma[held]
        inside[held] = (low <= residual) & (residual <= high)
        width[held] = np.exp(log_estimate[held]) * (np.exp(high) - np.exp(low))
    price = fitted.y_cal.to_numpy(float)
    return summary(inside, price, fitted.X_cal["Neighborhood"].astype(str).to_numpy(), width)


def chance_outside(counts) -> float:
    """Expected neighbourhoods outside 87-93% when each is covered at exactly 90%."""
    expected = 0.0
    for n in counts:
        inside = sum(
            math.comb(n, k) * LEVEL**k * (1 - LEVEL) ** (n - k)
            for k in range(n + 1)
            if BAND[0] <= k / n <= BAND[1]
        )
        expected += 1 - inside
    return expected


def outside_tolerance(split, estimate, low, high) -> str:
    """The groups the ratio study's coverage check would name, for these test-split ranges."""
    scored = scored_sales(
        "test", split_pids(split, split.X_test), split.X_test, split.y_test, estimate, low, high,
        LEVEL,
    ).assign(model="m", model_version=0)  # fmt: skip
    study = all_sales(ratio_study(scored))
    outcome = coverage_outcome(study[study["group_kind"] != "overall"])
    return "; ".join(outcome.outside) or "none"


def learning_curve(fam, split) -> str:
    points = []
    for folds in (2, 3, 5, 10, 20):
        cv = KFold(folds, shuffle=True, random_state=42)
        predicted = cross_val_predict(fam.build(), split.X_train, split.y_train, cv=cv, n_jobs=2)
        residual = np.abs(np.log(split.y_train.to_numpy(float)) - np.log(predicted))
        points.append(f"{folds} folds {np.quantile(residual, 0.9):.3f}")
    return ", ".join(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-curve", action="store_true")
    args = parser.parse_args()
    raw = load_source(str(settings.SHIPPED_SOURCE)).frame
    split = split_sales(raw)
    price = split.y_test.to_numpy(float)
    neighbourhood = split.X_test["Neighborhood"].astype(str).to_numpy()
    for fam in FAMILIES.values():
        fitted = cross_fit(fam.build(), fam, split, FIT_JOBS)
        served = calibrate(fitted, FIT_JOBS).served
        estimate = fitted.estimator.predict(split.X_test)
        for name, calibration in (("symmetric", symmetric(served)), ("banded", served)):
            low, high = calibration.interval(split.X_test, estimate, LEVEL)
            inside = (low <= price) & (price <= high)
            cv = nested_cv(fitted, served, name == "banded")
            tested = summary(inside, price, neighbourhood, high - low)
            print(f"{fam.asset:20s} {name:9s} nested CV  {cv}")
            print(f"{fam.asset:20s} {name:9s} test split {tested}")
            outside = outside_tolerance(split, estimate, low, high)
            print(f"{fam.asset:20s} {name:9s} groups outside the check's tolerance: {outside}")
        out_of_fold = np.abs(np.log(fitted.y_cal.to_numpy(float)) - fitted.out_of_fold)
        tested = np.abs(np.log(price) - np.log(estimate))
        print(
            f"{fam.asset:20s} 90th percentile of |log residual|: out of fold "
            f"{np.quantile(out_of_fold, 0.9):.3f}, test split {np.quantile(tested, 0.9):.3f}"
        )
        if args.learning_curve:
            print(f"{fam.asset:20s} out of fold by folds: {learning_curve(fam, split)}")
    counts = pd.Series(neighbourhood).value_counts()
    counts = counts[counts >= MIN_GROUP_SALES]
    print(
        f"A range covering exactly 90% in every neighbourhood leaves "
        f"{chance_outside(counts):.1f} of the test split's {len(counts)} neighbourhoods outside "
        "87-93% by chance alone."
    )


if __name__ == "__main__":
    main()
