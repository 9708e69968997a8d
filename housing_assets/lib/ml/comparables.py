"""Comparable sales: the sales comparison approach an appraiser uses, with the model's
adjustments.

For each subject house, 3 to 6 closed sales are chosen as an appraiser would, from **known
sales only**: the training split (the pool), never the subject itself and never a test-split
house.

- **When:** sold within `WINDOW_MONTHS` months before the valuation date, which is the month
  the subject sold in (a sale in the same month is not before it); for a house not sold yet,
  the month after the pool's last sale.
- **Where:** its own neighbourhood first. Where that has fewer than `MIN_COMPS` such sales,
  the competing neighbourhoods are added one at a time, nearest first by the pool's median
  log price per square foot of living area (the file has no coordinates, so "neighbouring"
  is read as "the same market").
- **Which:** up to `MAX_COMPS`, the own neighbourhood's first, each market's closest first
  in living area (log), age and overall quality, each in units of its spread in the pool (a
  gap counts as the pool's median).

Each comp is adjusted by the model for how it differs from the subject: its price times
model(subject) / model(comp). The net adjustment is that ratio minus 1. The gross adjustment
sums the sizes of the adjustments per line item of an appraiser's grid (`LINE_ITEMS`: sale
terms, date, location, site, design, quality, age and condition, living area and rooms,
basement, heating, garage, porches and extras): each is the difference of the two houses'
contributions (`lib.ml.reasons`; both have the same base) over the item's features, split
into dollars as the reasons are. Summing per feature instead would count as adjustments the
offsetting moves of features that measure the same thing (living area, total area and
quality x area). A comp is flagged above `MAX_NET` net or `MAX_GROSS` gross adjustment. The
comps-implied value is the mean of the adjusted prices weighted by 1 / gross adjustment (an
appraiser's reconciliation leans on the least-adjusted comps), floored at `MIN_GROSS`.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.ml.reasons import Contributions, logarithmic_mean

MIN_COMPS = 3
MAX_COMPS = 6
WINDOW_MONTHS = 12
MAX_NET = 0.15
MAX_GROSS = 0.25
MIN_GROSS = 0.01
# How many competing neighbourhoods may be added to reach MIN_COMPS.
MAX_COMPETITORS = 3
SIMILARITY = ("log living area", "age", "overall quality")
LINE_ITEMS = {
    "sale terms": ("Sale Type", "Sale Condition"),
    "date of sale": ("Mo Sold", "Yr Sold"),
    "location": ("Neighborhood", "MS Zoning", "Condition 1", "Condition 2", "Street", "Alley"),
    "site": (
        "Lot Frontage", "Lot Area", "Lot Shape", "Land Slope", "Land Contour", "Lot Config",
        "Utilities", "Paved Drive", "Fence",
    ),
    "design": (
        "MS SubClass", "Bldg Type", "House Style", "Roof Style", "Roof Matl", "Exterior 1st",
        "Exterior 2nd", "Mas Vnr Type", "Mas Vnr Area", "Foundation",
    ),
    "quality": (
        "Overall Qual", "Exter Qual", "Kitchen Qual", "Qual x Living Area", "Qual x Total SF",
    ),
    "age and condition": (
        "Year Built", "Year Remod/Add", "House Age", "Years Since Remodel", "Overall Cond",
        "Exter Cond", "Functional",
    ),
    "living area and rooms": (
        "Gr Liv Area", "1st Flr SF", "2nd Flr SF", "Low Qual Fin SF", "Total SF",
        "TotRms AbvGrd", "Bedroom AbvGr", "Kitchen AbvGr", "Full Bath", "Half Bath",
        "Total Bathrooms",
    ),
    "basement": (
        "Total Bsmt SF", "BsmtFin SF 1", "BsmtFin SF 2", "Bsmt Unf SF", "Bsmt Qual",
        "Bsmt Cond", "Bsmt Exposure", "BsmtFin Type 1", "BsmtFin Type 2", "Bsmt Full Bath",
        "Bsmt Half Bath",
    ),
    "heating": ("Heating", "Heating QC", "Central Air", "Electrical", "Fireplaces", "Fireplace Qu"),
    "garage": (
        "Garage Yr Blt", "Garage Cars", "Garage Area", "Garage Qual", "Garage Cond",
        "Garage Finish", "Garage Type",
    ),
    "porches and extras": (
        "Wood Deck SF", "Open Porch SF", "Enclosed Porch", "3Ssn Porch", "Screen Porch",
        "Total Porch SF", "Pool Area", "Pool QC", "Misc Val", "Misc Feature",
    ),
}  # fmt: skip
OTHER_ITEM = "other"


def line_items(features: tuple[str, ...]) -> np.ndarray:
    """The line item (index into LINE_ITEMS, then OTHER_ITEM) of each feature."""
    index = {f: i for i, item in enumerate(LINE_ITEMS.values()) for f in item}
    return np.array([index.get(f, len(LINE_ITEMS)) for f in features], dtype=np.intp)


COMPARABLE_COLUMNS = (
    "PID", "comp_rank", "comp_pid", "comp_neighborhood", "comp_sold", "months_before",
    "distance", "comp_price", "subject_estimate", "comp_estimate", "adjustment",
    "adjusted_price", "net_adjustment_pct", "gross_adjustment_pct", "flagged", "weight",
    "implied_value", "implied_gap_pct",
)  # fmt: skip


def sale_month(X: pd.DataFrame) -> np.ndarray:
    """Months since year 0 of each sale (NaN for a house not sold)."""
    return X["Yr Sold"].to_numpy(float) * 12 + X["Mo Sold"].to_numpy(float) - 1


def similarity_coordinates(X: pd.DataFrame) -> np.ndarray:
    """(houses, 3): log living area, age at sale (or now), overall quality."""
    area = np.log(np.clip(X["Gr Liv Area"].to_numpy(float), 1.0, None))
    age = X["House Age"].to_numpy(float)
    quality = X["Overall Qual"].to_numpy(float)
    return np.column_stack([area, age, quality])


class ComparablePool(NamedTuple):
    """The known sales comps are chosen from (the training split), as the model reads them."""

    X: pd.DataFrame
    pid: np.ndarray
    price: np.ndarray
    month: np.ndarray
    neighborhood: np.ndarray
    coordinates: np.ndarray  # similarity coordinates over their pool spread
    spread: np.ndarray  # the pool's standard deviation of each coordinate
    competitors: dict[str, tuple[str, ...]]  # per neighbourhood, the others nearest first
    median: np.ndarray  # the pool's median of each coordinate, for a house with a gap


def comparable_pool(X: pd.DataFrame, price: pd.Series, pid) -> ComparablePool:
    price = np.asarray(price, dtype=float)
    coordinates = similarity_coordinates(X)
    spread = np.nanstd(coordinates, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    neighborhood = X["Neighborhood"].astype(str).to_numpy()
    per_foot = pd.Series(np.log(price / X["Gr Liv Area"].to_numpy(float))).groupby(neighborhood)
    level = per_foot.median()
    competitors = {
        name: tuple((level - level[name]).abs().drop(name).sort_values(kind="stable").index)
        for name in level.index
    }
    # A gap in a coordinate is the pool's median there: neither a perfect nor a bad match.
    median = np.nanmedian(coordinates, axis=0)
    coordinates = np.where(np.isnan(coordinates), median, coordinates)
    return ComparablePool(
        X.reset_index(drop=True), np.asarray(pid), price, sale_month(X), neighborhood,
        coordinates / spread, spread, competitors, median,
    )  # fmt: skip


class Chosen(NamedTuple):
    subject: np.ndarray  # row of the subjects
    comp: np.ndarray  # row of the pool
    distance: np.ndarray
    months_before: np.ndarray


def choose(pool: ComparablePool, X: pd.DataFrame, pid) -> Chosen:
    """The comps of each subject (module docstring): up to MAX_COMPS rows of the pool each.
    `pid` is each subject's parcel id (NaN if unknown), which no comp may have."""
    pid = np.asarray(pid)
    valuation = sale_month(X)
    latest = np.nanmax(pool.month) + 1
    valuation = np.where(np.isnan(valuation), latest, valuation)
    coordinates = similarity_coordinates(X)
    coordinates = np.where(np.isnan(coordinates), pool.median, coordinates) / pool.spread
    neighborhood = X["Neighborhood"].astype(str).to_numpy()
    rows: list[tuple[int, int, float, float]] = []
    for s in range(len(X)):
        months = valuation[s] - pool.month
        usable = (months >= 1) & (months <= WINDOW_MONTHS) & (pool.pid != pid[s])
        markets = (neighborhood[s], *pool.competitors.get(neighborhood[s], ())[:MAX_COMPETITORS])
        # each candidate's market: 0 its own neighbourhood, then the competitors in order
        tier = np.full(len(pool.pid), len(markets))
        for rank, market in enumerate(markets):
            tier[usable & (pool.neighborhood == market)] = rank
            if (tier <= rank).sum() >= MIN_COMPS:
                break
        candidates = np.flatnonzero(tier < len(markets))
        if not len(candidates):
            continue
        gap = pool.coordinates[candidates] - coordinates[s]
        distance = np.sqrt((gap**2).sum(axis=1))
        # the own neighbourhood's sales first, then the nearest market's, closest first in each
        order = np.lexsort((distance, tier[candidates]))[:MAX_COMPS]
        rows.extend(
            (s, int(candidates[o]), float(distance[o]), float(months[candidates[o]])) for o in order
        )
    if not rows:
        empty = np.array([], dtype=np.intp)
        return Chosen(empty, empty, np.array([]), np.array([]))
    subject, comp, distance, before = (np.array(column) for column in zip(*rows, strict=True))
    return Chosen(subject.astype(np.intp), comp.astype(np.intp), distance, before)


def comparables_table(
    pool: ComparablePool,
    chosen: Chosen,
    pid,
    subject_estimate: np.ndarray,
    comp_estimate: np.ndarray,
    subject_contributions: Contributions,
    comp_contributions: Contributions,
) -> pd.DataFrame:
    """One row per (subject, comp) (`COMPARABLE_COLUMNS`). `comp_estimate` and
    `comp_contributions` are of `chosen.comp`'s rows, in that order."""
    if not len(chosen.subject):
        return pd.DataFrame(columns=list(COMPARABLE_COLUMNS))
    price = pool.price[chosen.comp]
    estimate = np.asarray(subject_estimate, dtype=float)[chosen.subject]
    ratio = estimate / np.asarray(comp_estimate, dtype=float)
    adjusted = price * ratio
    # per-feature adjustments in log price, then in dollars (they sum to adjusted - price)
    difference = subject_contributions.values[chosen.subject] - comp_contributions.values
    dollars = difference * logarithmic_mean(adjusted, price)[:, None]
    items = np.zeros((len(dollars), len(LINE_ITEMS) + 1))
    np.add.at(items.T, line_items(subject_contributions.features), dollars.T)
    gross = np.abs(items).sum(axis=1) / price
    net = adjusted / price - 1
    month = pool.month[chosen.comp].astype(int)
    table = pd.DataFrame(
        {
            "PID": np.asarray(pid)[chosen.subject],
            "comp_pid": pool.pid[chosen.comp],
            "comp_neighborhood": pool.neighborhood[chosen.comp],
            "comp_sold": [f"{m // 12}-{m % 12 + 1:02d}" for m in month],
            "months_before": chosen.months_before.astype(int),
            "distance": chosen.distance,
            "comp_price": price,
            "subject_estimate": estimate,
            "comp_estimate": np.asarray(comp_estimate, dtype=float),
            "adjustment": adjusted - price,
            "adjusted_price": adjusted,
            "net_adjustment_pct": 100 * net,
            "gross_adjustment_pct": 100 * gross,
            "flagged": (np.abs(net) > MAX_NET) | (gross > MAX_GROSS),
        }
    )
    table["comp_rank"] = table.groupby("PID", sort=False).cumcount() + 1
    raw_weight = 1 / np.maximum(gross, MIN_GROSS)
    table["weight"] = raw_weight / table.assign(w=raw_weight).groupby("PID")["w"].transform("sum")
    implied = (table["weight"] * table["adjusted_price"]).groupby(table["PID"]).transform("sum")
    table["implied_value"] = implied
    table["implied_gap_pct"] = 100 * (implied / table["subject_estimate"] - 1)
    return table.loc[:, list(COMPARABLE_COLUMNS)]


def implied_values(table: pd.DataFrame) -> pd.DataFrame:
    """Per subject: the comps-implied value, the model's estimate, the number of comps."""
    return table.groupby("PID", sort=False).agg(
        implied_value=("implied_value", "first"),
        estimate=("subject_estimate", "first"),
        comps=("comp_pid", "size"),
    )
