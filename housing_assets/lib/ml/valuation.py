"""Valuations: the champion as a model that prices a house as the source file describes it.

A valuation team prices houses it has not sold, one at a time from another program and in
batches, and needs a range it can trust, not only a point. So the registered model is an MLflow
pyfunc (`HousePriceModel`) whose input is a row shaped like `data/AmesHousing.csv` (De Cock's
column names, absent features as NA, columns the model does not use ignored). It checks the
rows, turns them into features through the one feature path (`lib.data.features`), and
returns per house an `estimate` and a `low`-`high` range for a level (default 90%) from the
fitted estimator and its calibration (`lib.ml.ranges`). Asked to explain (param `explain`),
it adds the log base value and the top reasons of each estimate (`lib.ml.reasons`); asked
for comparables (param `comparables`), the comparable sales with the model's adjustments and
the comps-implied value (`lib.ml.comparables`).
"""

import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from housing_assets.lib.data.columns import AMES_COLUMNS, NUMERIC_COLUMNS
from housing_assets.lib.data.features import FEATURES, house_features
from housing_assets.lib.data.frames import copied_columns
from housing_assets.lib.data.ingest import numbers_from_text
from housing_assets.lib.ml.comparables import (
    COMPARABLE_COLUMNS,
    ComparablePool,
    choose,
    comparables_table,
    implied_values,
)
from housing_assets.lib.ml.lookup import LookupEncoding
from housing_assets.lib.ml.ranges import (
    DEFAULT_LEVEL,
    IntervalCalibration,
    ValuationInputError,
    encoded_features,
    shares_encoding,
)
from housing_assets.lib.ml.reasons import (
    Contributions,
    LinearReasons,
    encoded_owners,
    reason_table,
    tree_contributions,
    tree_reasons,
)
from housing_assets.lib.ml.trees import FlatForest, flat_forest, predict_trees

REQUIRED_COLUMNS = tuple(c for c in AMES_COLUMNS if c in FEATURES)
OUTPUT_COLUMNS = ("estimate", "low", "high")
EXPLAIN_COLUMNS = ("base_value", "reasons")
COMPARABLES_COLUMNS = ("implied_value", "comparables")


def checked_houses(houses: pd.DataFrame, where: str = "the input") -> dict[str, np.ndarray]:
    """Raw-format rows with every required column and numbers that parse, as the source
    file's rows are read, one array per source column (`lib.data.frames.Columns`); otherwise a
    ValuationInputError naming the column or value."""
    if len(houses) == 0:
        raise ValuationInputError(f"{where} has no house to price (0 rows)")
    if houses.columns.has_duplicates:
        twice = houses.columns[houses.columns.duplicated()].unique()
        raise ValuationInputError(f"{where} names column(s) twice: {', '.join(map(str, twice))}")
    missing = [c for c in REQUIRED_COLUMNS if c not in houses.columns]
    if missing:
        raise ValuationInputError(
            f"{where} lacks {len(missing)} required column(s): {', '.join(missing)}"
        )
    columns = copied_columns(houses, AMES_COLUMNS)
    for column, values in columns.items():
        # An empty field is a missing value, as when the source file is read (`lib.data.ingest`).
        if values.dtype == object and (empty := values == "").any():
            columns[column] = np.where(empty, None, values)
    # Text from a request ("1710") is read as the source file's numbers are; a number that is
    # not one is named with its column.
    text = [c for c in NUMERIC_COLUMNS if not pd.api.types.is_numeric_dtype(columns[c].dtype)]
    numbers, problems = numbers_from_text(columns, text)
    if problems:
        raise ValuationInputError(f"{where}: " + "; ".join(problems))
    return {**columns, **numbers}


def nested_values(columns: dict[str, np.ndarray], where: str = "the input") -> str | None:
    """What names the first column holding a list, a mapping or an array where one value
    belongs (JSON lets a request send one), or None when there is none."""
    for column, values in columns.items():
        if values.dtype != object:
            continue
        nested = [v for v in values if isinstance(v, list | tuple | dict | set | np.ndarray)]
        if nested:
            return (
                f"{where}: column {column!r} has {len(nested)} value(s) that are not one "
                f"value: {nested[0]!r}"
            )
    return None


def records_by_house(table: pd.DataFrame, houses: np.ndarray, dropped: list[str]) -> list:
    """Per house (the table's `PID` is the house's position), its rows as records without
    `PID` and `dropped`, in the table's order; an empty list for a house without rows."""
    records = {
        house: rows.drop(columns=["PID", *dropped]).to_dict(orient="records")
        for house, rows in table.groupby("PID", sort=False)
    }
    return [records.get(house, []) for house in houses]


def price_estimate(estimator, encoded: np.ndarray, trees: FlatForest | None = None) -> np.ndarray:
    """A fitted price model's estimates (dollars) from its encoding of the houses: its own
    `predict`, with a booster's trees walked by `predict_trees` (flat for a few houses, in
    blocks for many)."""
    regressor = estimator.regressor_[-1]
    if shares_encoding(estimator):
        return estimator.inverse_func(predict_trees(regressor, trees, encoded))
    return estimator.inverse_func(regressor.predict(encoded))


class HousePriceModel(mlflow.pyfunc.PythonModel):
    """A price estimate and a calibrated range for each house in the source file's format."""

    def __init__(
        self,
        estimator,
        calibration: IntervalCalibration,
        level: float = DEFAULT_LEVEL,
        encoding: LookupEncoding | None = None,
        linear_reasons: LinearReasons | None = None,
        pool: ComparablePool | None = None,
    ):
        self.estimator = estimator
        self.calibration = calibration
        self.level = level
        # A linear family's coefficients and mean training row; a booster's reasons come from
        # its trees (`explain`).
        self.linear_reasons = linear_reasons
        # The known sales (training split) comparables are chosen from.
        self.pool = pool
        # The booster's own preprocessing as lookups (`lib.ml.lookup`): one house is encoded
        # in well under a millisecond instead of the transformer's tens.
        self.encoding = encoding
        self._flatten_trees()

    def _flatten_trees(self) -> None:
        """The boosters' trees as flat arrays (`lib.ml.trees`), so a few houses are priced
        without one Python call per tree. Derived from the fitted models, so they are rebuilt
        when a pickled model is loaded rather than stored in it: a champion pickled before
        they existed gets them too."""
        estimator = self.estimator
        boosted = estimator is not None and shares_encoding(estimator)
        self.trees = flat_forest(estimator.regressor_[-1]) if boosted else None
        difficulty = getattr(self.calibration, "difficulty", None)
        is_booster = isinstance(difficulty, HistGradientBoostingRegressor)
        self.difficulty_trees = flat_forest(difficulty) if is_booster else None
        self.tree_reasons = None  # the booster's paths, grouped on the first `explain`

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for derived in ("trees", "difficulty_trees", "tree_reasons"):
            state.pop(derived, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._flatten_trees()

    def encoded(self, X: pd.DataFrame) -> np.ndarray:
        # Champions registered before the lookups have no `encoding` attribute.
        encoding = getattr(self, "encoding", None)
        if encoding is not None:
            return encoding.transform(X)
        return encoded_features(self.estimator, X)

    def contributions(self, X: pd.DataFrame) -> Contributions:
        """Each feature's contribution to the log estimate of each house (`lib.ml.reasons`)."""
        encoded = self.encoded(X)
        if self.trees is not None:
            if self.tree_reasons is None:
                preprocess = self.estimator.regressor_.named_steps["preprocess"]
                owners = encoded_owners(preprocess, FEATURES)
                self.tree_reasons = tree_reasons(self.trees, owners, FEATURES)
            return tree_contributions(self.tree_reasons, self.trees, encoded)
        reasons = getattr(self, "linear_reasons", None)
        if reasons is None:
            raise ValuationInputError(
                "this model was registered before estimates had reasons; explain is not "
                "available for it"
            )
        return reasons.explain(encoded)

    def reasons(
        self, X: pd.DataFrame, pid, estimate=None, contributions: Contributions | None = None
    ) -> pd.DataFrame:
        """The reasons table (`lib.ml.reasons.REASON_COLUMNS`) of houses given as features."""
        if estimate is None:
            estimate = self.ranges(X)["estimate"].to_numpy()
        if contributions is None:
            contributions = self.contributions(X)
        return reason_table(contributions, estimate, X, pid)

    def comparables(
        self,
        X: pd.DataFrame,
        pid,
        estimate,
        contributions: Contributions | None = None,
        own_pid=None,
    ) -> pd.DataFrame:
        """The comparables table (`lib.ml.comparables.COMPARABLE_COLUMNS`) of houses given as
        features, with their estimates (and contributions, if already computed), keyed by
        `pid`; `own_pid` (default `pid`) are the parcel ids no comp of theirs may have."""
        pool = getattr(self, "pool", None)
        if pool is None:
            raise ValuationInputError(
                "this model was registered before estimates had comparables; they are not "
                "available for it"
            )
        return self.comparables_from(pool, X, pid, estimate, contributions, own_pid)

    def comparables_from(
        self,
        pool: ComparablePool,
        X,
        pid,
        estimate,
        contributions: Contributions | None = None,
        own_pid=None,
        known: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """`known`: optionally, the estimates and contributions of every known sale of
        `pool` (`known_sales_explained`), so those of the comps are not computed again."""
        chosen = choose(pool, X, pid if own_pid is None else own_pid)
        if not len(chosen.comp):
            return pd.DataFrame(columns=list(COMPARABLE_COLUMNS))
        if known is not None:
            comp_estimate = known[0][chosen.comp]
            comp_contributions = Contributions(float("nan"), known[1][chosen.comp], FEATURES)
        else:
            used, position = np.unique(chosen.comp, return_inverse=True)
            comps = pool.X.iloc[used]
            comp_estimate = self.ranges(comps)["estimate"].to_numpy()[position]
            comp_contributions = self.contributions(comps)
            comp_contributions = comp_contributions._replace(
                values=comp_contributions.values[position]
            )
        if contributions is None:
            contributions = self.contributions(X)
        return comparables_table(
            pool, chosen, pid, estimate, comp_estimate, contributions, comp_contributions
        )

    def known_sales_explained(self, pool: ComparablePool) -> tuple[np.ndarray, np.ndarray]:
        """The estimate and the contributions of every known sale of `pool`."""
        return self.ranges(pool.X)["estimate"].to_numpy(), self.contributions(pool.X).values

    def estimate(self, X: pd.DataFrame, encoded: np.ndarray | None = None) -> np.ndarray:
        """The estimate (dollars) for model features, as `ranges` gives it, without the range:
        the fitted estimator's own `predict`, through the lookups and the flat trees."""
        encoded = self.encoded(X) if encoded is None else encoded
        return price_estimate(self.estimator, encoded, self.trees)

    def ranges(self, X: pd.DataFrame, level: float | None = None) -> pd.DataFrame:
        """Estimate, low and high for model features (`lib.data.features.house_features`)."""
        encoded = self.encoded(X)
        estimate = self.estimate(X, encoded)
        low, high = self.calibration.interval(
            X, estimate, level or self.level, encoded, self.difficulty_trees
        )
        return pd.DataFrame({"estimate": estimate, "low": low, "high": high}, index=X.index)

    def features(self, houses: pd.DataFrame) -> pd.DataFrame:
        """The houses as the model was trained on them: checked, then the one feature path.

        A list where one category belongs fails inside the cleaning; only then are the
        columns searched for it, so a valid request pays nothing for the search."""
        columns = checked_houses(houses)
        try:
            return house_features(columns, houses.index)
        except (TypeError, ValueError) as error:
            if (found := nested_values(columns)) is None:
                raise
            raise ValuationInputError(found) from error

    def price(self, houses: pd.DataFrame, level: float | None = None) -> pd.DataFrame:
        return self.ranges(self.features(houses), level)

    def explained(self, X: pd.DataFrame, priced: pd.DataFrame) -> pd.DataFrame:
        """`priced` with each house's log base value and its reasons as a list of records
        (feature, value, contribution, dollars), largest first, then all other features."""
        houses = np.arange(len(X))
        table = self.reasons(X, houses, priced["estimate"].to_numpy())
        records = records_by_house(table[table["rank"] > 0], houses, ["rank"])
        base = float(table["contribution"].iloc[0])
        return priced.assign(base_value=base, reasons=records)

    def with_comparables(self, X: pd.DataFrame, priced: pd.DataFrame, own_pid) -> pd.DataFrame:
        """`priced` with each house's comps-implied value and its comparables as a list of
        records (empty, and the value NaN, for a house with none). `own_pid`: the houses'
        parcel ids where the request gives them, so a known sale is not its own comp."""
        houses = np.arange(len(X))
        table = self.comparables(
            X, houses, priced["estimate"].to_numpy(), own_pid=np.asarray(own_pid, dtype=float)
        )
        records = records_by_house(table, houses, ["subject_estimate", "implied_value"])
        implied = implied_values(table)["implied_value"]
        return priced.assign(implied_value=implied.reindex(houses).to_numpy(), comparables=records)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        params = params or {}
        X = self.features(model_input)
        priced = self.ranges(X, params.get("level"))
        if params.get("explain"):
            priced = self.explained(X, priced)
        if params.get("comparables"):
            given = model_input["PID"] if "PID" in model_input else pd.Series(np.nan, X.index)
            own = pd.to_numeric(given, errors="coerce").to_numpy(dtype=float)
            priced = self.with_comparables(X, priced, own)
        return priced
