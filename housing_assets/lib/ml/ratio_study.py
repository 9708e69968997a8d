"""The assessor's ratio study: how a mass-appraisal model's estimates compare with sale prices.

An assessor's office judges a valuation model by the IAAO Standard on Ratio Studies (2013),
on the ratios estimate / sale price of sold houses, not by R²:

- **median ratio**: the level; IAAO asks for 0.90 to 1.10.
- **COD**, the coefficient of dispersion: 100 x the mean absolute deviation of the ratios
  from their median, over the median (horizontal equity: similar houses valued alike). At
  most 15 for residential property.
- **PRD**, the price-related differential: the mean ratio over the sale-weighted mean ratio
  (sum of estimates / sum of prices). Above 1, cheaper houses are valued high relative to
  dearer ones. 0.98 to 1.03.
- **PRB**, the price-related bias: the slope of (ratio - median) / median regressed (with an
  intercept) on log2 of a value proxy, half the sale price plus half the estimate over the
  median ratio; the proxy keeps the regression free of the bias a regression on sale price
  alone has. A PRB of -0.03 means the ratios fall 3% each time the value doubles.
  Within +-0.05.

AVM vendors and lenders also report PPE5/PPE10/PPE20 (the share of estimates within 5, 10 or
20% of the price), the median absolute percent error, and FSD, here the absolute percent
error not exceeded with 68.3% probability (its 68.3th percentile), in percent.

A study has rows per scope (the test split, the backtest year, and the training split's
5-fold cross-validation, `cv5`), model, sample and group: all sales,
each neighbourhood with at least `MIN_GROUP_SALES` sales in the scope, and each quartile of
the scope's sale prices. Statistics on fewer sales than that are too noisy to judge.

Two samples of each scope's sales are studied:

- `all`: every sale, as the model saw them. The checks judge this one: it is the stricter.
- `validated`: the sample an assessor's study uses. The standard asks for arm's-length sales
  only, so sales whose terms were not the open market's (Ames' `Sale Condition` other than
  `ARMS_LENGTH_CONDITIONS`) are left out. Its Appendix B then trims outlier ratios, to which
  COD and PRD are very sensitive: ratios outside the quartiles +- `TRIM_IQR_FACTOR` x the
  interquartile range of the arm's-length sales are trimmed. The factor is 3, the fence
  for extreme outliers and the default of Cook County's `assessr` package. The other common
  choice, 1.5, would trim more. The groups are then cut from what is left.

Each row also says how the price ranges did in the group: the share of sales inside their
range (`coverage`, against the range's `interval_level`) and the median width in dollars.
A group's coverage is judged against its level with a tolerance of `MAX_COVERAGE_GAP` or,
for a group too small to tell that gap from chance, the gap a well-calibrated range strays
by in fewer than 1 group in 1,000 (`coverage_tolerance`).
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

MIN_GROUP_SALES = 20
TEST_SCOPE = "test"
BACKTEST_SCOPE = "backtest"
# The training split's sales, each priced by the calibration fold model that left it out.
CV_SCOPE = "cv5"
# The share of absolute percent errors FSD does not exceed: one standard deviation's worth.
FSD_SHARE = 0.683
STATISTICS = (
    "median_ratio", "cod", "prd", "prb", "ppe5", "ppe10", "ppe20", "fsd", "median_ape",
)  # fmt: skip
RANGE_STATISTICS = ("interval_level", "coverage", "median_width")
STUDY_COLUMNS = (
    "scope", "model", "model_version", "sample", "group_kind", "group", "sales", *STATISTICS,
    *RANGE_STATISTICS,
)  # fmt: skip
ALL_SALES = "all"
VALIDATED_SALES = "validated"
# Ames' sale conditions (De Cock, 2011) that are open-market sales: Normal, and Partial (a new
# house not yet complete when last assessed). Abnorml (a trade, foreclosure or short sale),
# Family, Alloca (linked properties sold on one deed) and AdjLand (adjoining land) are not.
ARMS_LENGTH_CONDITIONS = ("Normal", "Partial")
TRIM_IQR_FACTOR = 3.0
VERTICAL_STATISTICS = ("prd", "prb")
# The sales of one model in one scope, as a model run logs them (`lib.ml.workflow`). Runs
# logged before the ranges were studied have no `low`, `high` or `interval_level`.
SCORED_COLUMNS = (
    "scope", "PID", "Neighborhood", "sale_condition", "sale_price", "estimate", "low", "high",
    "interval_level",
)  # fmt: skip
MAX_COVERAGE_GAP = 0.03
# Two-sided normal quantile for 1 chance in 1,000 that a well-calibrated group strays further:
# with about 20 groups a study, calibrated ranges then warn in about 1 study in 50.
COVERAGE_Z = 3.29


class Limit(NamedTuple):
    """An IAAO limit on one statistic: the interval a ratio study's figure must fall in."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def describe(self) -> str:
        if self.low == -np.inf:
            return f"at most {self.high:g}"
        return f"between {self.low:g} and {self.high:g}"


# Residential property, IAAO Standard on Ratio Studies (2013), table 1.1 and section 9.
IAAO_LIMITS = {
    "median_ratio": Limit(0.90, 1.10),
    "cod": Limit(-np.inf, 15.0),
    "prd": Limit(0.98, 1.03),
    "prb": Limit(-0.05, 0.05),
}


def price_related_bias(estimate: np.ndarray, sale_price: np.ndarray) -> float:
    """IAAO's PRB: the OLS slope of (ratio - median) / median on log2 of the value proxy."""
    ratio = estimate / sale_price
    median = np.median(ratio)
    deviation = (ratio - median) / median
    proxy = np.log2(0.5 * sale_price + 0.5 * estimate / median)
    centred = proxy - proxy.mean()
    spread = float(centred @ centred)
    if spread == 0.0:
        return float("nan")
    return float(centred @ (deviation - deviation.mean()) / spread)


def ratio_statistics(estimate, sale_price) -> dict[str, float]:
    """Every statistic of `STATISTICS` for one set of sales (percentages as percent)."""
    estimate = np.asarray(estimate, dtype=float)
    sale_price = np.asarray(sale_price, dtype=float)
    if len(estimate) == 0:
        raise ValueError("a ratio study needs at least one sale")
    ratio = estimate / sale_price
    median = float(np.median(ratio))
    # |estimate - price| / price rather than |ratio - 1|: an estimate exactly 10% off is
    # within 10% (1.1 - 1 is a hair over 0.1 in floating point).
    error = np.abs(estimate - sale_price) / sale_price
    return {
        "median_ratio": median,
        "cod": float(100.0 * np.mean(np.abs(ratio - median)) / median),
        "prd": float(np.mean(ratio) / (estimate.sum() / sale_price.sum())),
        "prb": price_related_bias(estimate, sale_price),
        "ppe5": float(100.0 * np.mean(error <= 0.05)),
        "ppe10": float(100.0 * np.mean(error <= 0.10)),
        "ppe20": float(100.0 * np.mean(error <= 0.20)),
        "fsd": float(100.0 * np.quantile(error, FSD_SHARE)),
        "median_ape": float(100.0 * np.median(error)),
    }


def range_statistics(sales: pd.DataFrame) -> dict[str, float]:
    """`RANGE_STATISTICS` for one set of sales; NaN for sales scored without ranges."""
    if "low" not in sales or sales["low"].isna().all():
        return dict.fromkeys(RANGE_STATISTICS, float("nan"))
    price = sales["sale_price"].to_numpy(float)
    low, high = sales["low"].to_numpy(float), sales["high"].to_numpy(float)
    return {
        "interval_level": float(sales["interval_level"].iloc[0]),
        "coverage": float(np.mean((low <= price) & (price <= high))),
        "median_width": float(np.median(high - low)),
    }


def coverage_tolerance(level: float, sales: int) -> float:
    """How far a group's coverage may stray from `level`: MAX_COVERAGE_GAP, or for a small
    group the distance a well-calibrated range exceeds only once in 1,000 groups (normal
    approximation to the binomial)."""
    return max(MAX_COVERAGE_GAP, COVERAGE_Z * float(np.sqrt(level * (1 - level) / sales)))


def price_quartiles(sale_price: pd.Series) -> pd.Series:
    """Q1 (the cheapest quarter) to Q4 of the sale prices, by rank so ties split evenly."""
    ranks = sale_price.rank(method="first")
    return pd.qcut(ranks, 4, labels=["Q1", "Q2", "Q3", "Q4"]).astype(str)


def study_groups(scored: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(group kind, group, sales) for one model's sales in one scope: all of them, each
    neighbourhood with at least MIN_GROUP_SALES, each price quartile."""
    groups = [("overall", "all", scored)]
    for name, sales in scored.groupby("Neighborhood", sort=True):
        if len(sales) >= MIN_GROUP_SALES:
            groups.append(("neighborhood", str(name), sales))
    if len(scored) >= 4:
        for name, sales in scored.groupby(price_quartiles(scored["sale_price"]), sort=True):
            groups.append(("price_quartile", str(name), sales))
    return groups


def validated_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """The `validated` sample of one model's sales in one scope: the arm's-length sales, less
    the ratios outside their quartiles +- TRIM_IQR_FACTOR x IQR (quartiles interpolated
    linearly, as R's default). Empty for sales logged without their sale condition."""
    if "sale_condition" not in sales:
        return sales.iloc[:0]
    arms_length = sales[sales["sale_condition"].isin(ARMS_LENGTH_CONDITIONS)]
    if arms_length.empty:
        return arms_length
    ratio = (arms_length["estimate"] / arms_length["sale_price"]).to_numpy(float)
    first, third = np.quantile(ratio, [0.25, 0.75])
    fence = TRIM_IQR_FACTOR * (third - first)
    return arms_length[(ratio >= first - fence) & (ratio <= third + fence)]


def ratio_study(scored: pd.DataFrame) -> pd.DataFrame:
    """The study's rows (`STUDY_COLUMNS`) for sales scored by one or more models: columns
    `SCORED_COLUMNS` plus `model` and `model_version`. Each scope and model has the `all`
    sample's rows, then the `validated` sample's where the sales carry their condition."""
    rows = []
    keys = ["scope", "model", "model_version"]
    for (scope, model, version), sales in scored.groupby(keys, sort=False):
        for sample, chosen in ((ALL_SALES, sales), (VALIDATED_SALES, validated_sales(sales))):
            for kind, group, members in study_groups(chosen) if len(chosen) else ():
                stats = ratio_statistics(members["estimate"], members["sale_price"])
                stats.update(range_statistics(members))
                rows.append(
                    {
                        "scope": scope,
                        "model": model,
                        "model_version": int(version),
                        "sample": sample,
                        "group_kind": kind,
                        "group": group,
                        "sales": len(members),
                        **stats,
                    }
                )
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))


def all_sales(study: pd.DataFrame) -> pd.DataFrame:
    """The study's rows on every sale: what the checks and the charts judge."""
    return study[study["sample"] == ALL_SALES]


class LimitOutcome(NamedTuple):
    statistic: str
    limit: Limit
    passed: bool
    observed: float  # the figure itself, or across groups the one furthest outside (or in)
    where: str  # the group it was observed in
    outside: tuple[str, ...]  # "group: value" for each group outside the limit


def limit_outcome(rows: pd.DataFrame, statistic: str) -> LimitOutcome:
    """An IAAO limit against study rows: passed when every row is within it. The observed
    value is the row furthest from the limit (from its middle, for a two-sided one)."""
    limit = IAAO_LIMITS[statistic]
    if rows.empty:
        return LimitOutcome(statistic, limit, True, float("nan"), "none", ())
    values = rows[statistic].to_numpy(dtype=float)
    one_sided = limit.low == -np.inf
    distance = values - limit.high if one_sided else np.abs(values - (limit.low + limit.high) / 2)
    worst = int(np.nanargmax(distance)) if not np.isnan(distance).all() else 0
    names = (rows["group_kind"] + " " + rows["group"]).tolist()
    outside = tuple(
        f"{name}: {value:.3f}"
        for name, value in zip(names, values, strict=True)
        if not limit.holds(value)
    )
    return LimitOutcome(statistic, limit, not outside, float(values[worst]), names[worst], outside)


def group_rows(study: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """The group rows a limit applies to. PRD and PRB measure how the ratios move with value,
    which within a quarter of the sale prices is mostly the stratification itself: the prices
    hardly vary, so the value proxy (and the sale-weighted mean) moves with the estimate, and
    the ratio rises with it by construction. Those two apply to neighbourhoods only."""
    groups = study[study["group_kind"] != "overall"]
    if statistic in VERTICAL_STATISTICS:
        groups = groups[groups["group_kind"] == "neighborhood"]
    return groups


class CoverageOutcome(NamedTuple):
    passed: bool
    observed: float  # the coverage of the group furthest outside (or nearest to) its tolerance
    where: str
    outside: tuple[str, ...]  # "group: coverage (level +- tolerance)" for each group outside


def coverage_outcome(rows: pd.DataFrame) -> CoverageOutcome:
    """The ranges' coverage in study rows against each row's level and `coverage_tolerance`;
    rows without ranges are left out."""
    rows = rows.dropna(subset=["coverage"])
    if rows.empty:
        return CoverageOutcome(True, float("nan"), "none", ())
    coverage = rows["coverage"].to_numpy(float)
    level = rows["interval_level"].to_numpy(float)
    tolerance = np.array(
        [coverage_tolerance(lv, n) for lv, n in zip(level, rows["sales"], strict=True)]
    )
    excess = np.abs(coverage - level) / tolerance
    names = (rows["group_kind"] + " " + rows["group"]).tolist()
    outside = tuple(
        f"{name}: {cov:.1%} ({lv:.0%} +- {tol:.1%})"
        for name, cov, lv, tol, out in zip(
            names, coverage, level, tolerance, excess > 1, strict=True
        )
        if out
    )
    worst = int(np.argmax(excess))
    return CoverageOutcome(not outside, float(coverage[worst]), names[worst], outside)
