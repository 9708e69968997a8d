"""Data-quality rules as pure functions: each returns whether it passed and what it observed.

The Dagster checks in `housing_assets.checks` wrap these; keeping the rules here makes each
one testable on a three-row frame.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import AMES_COLUMNS, AREA_COLUMNS, TARGET

MIN_RAW_ROWS = 1000


class RuleOutcome(NamedTuple):
    passed: bool
    observed: float | int
    threshold: float | int
    detail: str


def required_columns_present(frame: pd.DataFrame) -> RuleOutcome:
    missing = [c for c in AMES_COLUMNS if c not in frame.columns]
    return RuleOutcome(not missing, len(missing), 0, ", ".join(missing) or "all present")


def enough_rows(frame: pd.DataFrame, minimum: int = MIN_RAW_ROWS) -> RuleOutcome:
    return RuleOutcome(len(frame) >= minimum, len(frame), minimum, f"{len(frame)} rows")


def unique_pids(frame: pd.DataFrame) -> RuleOutcome:
    """Each row has a PID, and no two rows share one.

    A blank PID counts as a failure too: it is no id at all, cleaning would impute one, and a
    lookup by PID (SQL's `IN`) never finds it.
    """
    blank = frame["PID"].isna()
    duplicated = frame["PID"].duplicated(keep=False) & ~blank
    examples = frame.loc[duplicated, "PID"].drop_duplicates().head(5).tolist()
    bad = int(duplicated.sum() + blank.sum())
    parts = [f"duplicated PIDs: {examples}"] if duplicated.any() else []
    if blank.any():
        rows = (np.flatnonzero(blank.to_numpy()) + 1).tolist()[:5]
        parts.append(
            f"{int(blank.sum())} blank PID(s), rows {rows} (1: the first after the header)"
        )
    return RuleOutcome(bad == 0, bad, 0, "; ".join(parts) or "each PID once")


def positive_sale_prices(frame: pd.DataFrame) -> RuleOutcome:
    bad = frame[TARGET].isna() | (frame[TARGET] <= 0)
    return RuleOutcome(not bad.any(), int(bad.sum()), 0, f"{int(bad.sum())} rows with price <= 0")


def no_missing_values(frame: pd.DataFrame) -> RuleOutcome:
    counts = frame.isna().sum()
    counts = counts[counts > 0]
    return RuleOutcome(counts.empty, int(counts.sum()), 0, counts.to_dict().__repr__())


def areas_non_negative(frame: pd.DataFrame) -> RuleOutcome:
    negative = (frame[list(AREA_COLUMNS)] < 0).sum()
    negative = negative[negative > 0]
    return RuleOutcome(negative.empty, int(negative.sum()), 0, repr(negative.to_dict()))


def built_not_after_sale(frame: pd.DataFrame) -> RuleOutcome:
    """A house sold before its recorded build year (e.g. sold off-plan) counts as an exception."""
    bad = frame["Year Built"] > frame["Yr Sold"]
    return RuleOutcome(
        not bad.any(), int(bad.sum()), 0, f"PIDs: {frame.loc[bad, 'PID'].head(5).tolist()}"
    )


def remodel_not_before_built(frame: pd.DataFrame) -> RuleOutcome:
    bad = frame["Year Remod/Add"] < frame["Year Built"]
    return RuleOutcome(
        not bad.any(), int(bad.sum()), 0, f"PIDs: {frame.loc[bad, 'PID'].head(5).tolist()}"
    )


def estimates_finite_and_positive(frame: pd.DataFrame) -> RuleOutcome:
    values = frame[["estimate", "low", "high"]].to_numpy(dtype=float)
    bad = int((~np.isfinite(values) | (values <= 0)).any(axis=1).sum())
    return RuleOutcome(bad == 0, bad, 0, f"{bad} house(s) without a finite positive price")


# How closely a house's base value and contributions must add up to its log estimate.
REASONS_TOLERANCE = 1e-6


def reasons_add_up(frame: pd.DataFrame) -> RuleOutcome:
    """Per house, base value + contributions = log(estimate) to REASONS_TOLERANCE: `frame` is
    the reasons table with each house's `estimate` from the estimates table beside its rows
    (NaN for a house the estimates table does not hold)."""
    houses = frame.groupby("PID").agg(total=("contribution", "sum"), estimate=("estimate", "first"))
    gap = (houses["total"] - np.log(houses["estimate"].astype(float))).abs()
    bad = gap.isna() | (gap > REASONS_TOLERANCE)
    worst = float(gap.max()) if len(gap) else 0.0
    return RuleOutcome(
        not bad.any(),
        int(bad.sum()),
        0,
        f"largest gap {worst:.3g} in log price over {len(houses)} houses; "
        f"PIDs off: {houses.index[bad][:5].tolist()}",
    )


def unique_pid_ranks(frame: pd.DataFrame) -> RuleOutcome:
    duplicated = int(frame.duplicated(["PID", "rank"]).sum())
    without_base = int((~frame.groupby("PID")["rank"].min().eq(0)).sum())
    bad = duplicated + without_base
    return RuleOutcome(
        bad == 0, bad, 0, f"{duplicated} repeated (PID, rank); {without_base} without a base value"
    )


def comps_are_known_sales(frame: pd.DataFrame) -> RuleOutcome:
    """No comp is its subject or a test-split house (`comp_in_test_split` beside each row)."""
    itself = frame["comp_pid"] == frame["PID"]
    tested = frame["comp_in_test_split"].astype(bool)
    bad = itself | tested
    return RuleOutcome(
        not bad.any(),
        int(bad.sum()),
        0,
        f"{int(itself.sum())} comp(s) that are their subject, {int(tested.sum())} from the "
        f"test split; first: {frame.loc[bad, ['PID', 'comp_pid']].head(3).to_dict('records')}",
    )


def comps_sold_within_window(frame: pd.DataFrame, months: int = 12) -> RuleOutcome:
    """Each comp sold 1 to `months` months before its subject's valuation date."""
    bad = (frame["months_before"] < 1) | (frame["months_before"] > months)
    return RuleOutcome(
        not bad.any(),
        int(bad.sum()),
        0,
        f"{int(bad.sum())} comp(s) sold outside 1-{months} months before their subject",
    )
