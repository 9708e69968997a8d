"""Exploratory statistics of the sales: correlations, associations, bands and importance.

Numbers first, pictures later: this module returns plain DataFrames, so every figure of the
report can be tested on a hand-made frame and is also stored as a warehouse table that a user
can query. Three choices shape it:

- Each measure fits the pair of types it compares: Pearson and Spearman for two numbers,
  the correlation ratio (eta) for a category against a number, and the bias-corrected
  Cramer's V (Bergsma, 2013) for two categories. The plain Cramer's V is inflated for
  columns with many levels (Neighborhood has 28), the corrected one stays near 0 under
  independence.
- A column that is constant or entirely missing carries no information, and its coefficients
  are undefined (division by a zero variance). It is skipped and listed with the reason
  instead of crashing the run or producing NaN rows that look like findings.
- Feature importance is learned, so it sees the training rows of the project's one split
  only (`split_index`), described as the models describe them (`lib.data.features`, gaps
  and all), not with the cleaned table's imputed values. Two methods
  that share nothing are put side by side: mutual information (model-free, k-nearest
  neighbours) and the permutation importance of a gradient-boosted tree model. Where they
  agree, the signal does not depend on one method's assumptions. The fits run
  single-threaded (on a shared 2-core machine OpenMP's busy-waiting threads made them several
  times slower); the k-NN searches of mutual information run on two threads, and the
  permuted copies are scored in a few large predictions instead of one per feature and repeat.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from housing_assets.lib.data.columns import (
    ABSENT_FEATURES,
    CATEGORICAL_COLUMNS,
    DERIVED_FEATURES,
    NOMINAL_COLUMNS,
    NUMERIC_FEATURES,
    ORDINAL_SCALES,
    TARGET,
)
from housing_assets.lib.data.encoding import (
    BAND_SUFFIX,
    BANDS,
    encoding_summary,
    ordinal_ranks,
)
from housing_assets.lib.data.frames import fixed_sample
from housing_assets.lib.ml.split import RANDOM_STATE, split_index

MIN_ROWS = 50
TOP_N = 10
# Integer-valued columns with at most this many levels (counts, ranks, codes) are treated as
# discrete by the mutual-information estimator; the others as continuous.
MAX_DISCRETE_LEVELS = 20
MI_NEIGHBOURS = 3
# The permutation model is fitted on part of the training rows and permuted on the rest.
PERMUTATION_HOLDOUT = 0.3
# Above this many training rows, importance is computed on a fixed random sample of them
# (recorded as importance_training_rows in the metadata); the real data has 2,051.
IMPORTANCE_MAX_ROWS = 3_000
# Above this many sales, correlations and associations (Pearson, Spearman, eta, the pairwise
# Cramer's V) are computed on a fixed random sample of them, recorded as association_rows in
# the metadata: their sampling error is then about 0.01, and their cost stops growing. The
# bands, the encoding summary and the missing-value counts always use every sale.
ASSOCIATION_MAX_ROWS = 10_000
PERMUTATION_REPEATS = 3
# Permuted copies of this many features are predicted in one call (about 30 MB at 1,000 rows).
PERMUTATION_BATCH_FEATURES = 16
# Mutual information's per-feature k-NN searches release the GIL: two threads, one per core.
MI_THREADS = 2
BOOSTER_PARAMS = {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 15}

ETA = "correlation ratio (eta)"
CRAMERS_V = "Cramer's V (bias-corrected)"


class EdaInputError(ValueError):
    """The data cannot be analysed; the message says why."""


class SkippedColumn(NamedTuple):
    column: str
    analysis: str
    reason: str


# --- input checks -------------------------------------------------------------------------


def require_rows(frame: pd.DataFrame, minimum: int = MIN_ROWS) -> None:
    if len(frame) < minimum:
        raise EdaInputError(
            f"The EDA needs at least {minimum} sales but the table has {len(frame)} rows: "
            "correlations and feature importance on so few rows would be noise"
        )


def unusable_reason(values: pd.Series) -> str | None:
    """Why a column cannot enter a coefficient (all missing, constant), or None if it can."""
    present = values.dropna()
    if present.empty:
        return "all values missing"
    if present.nunique() < 2:
        return f"constant: every value is {present.iloc[0]}"
    return None


def usable_columns(
    frame: pd.DataFrame, columns, analysis: str, numeric: bool = False
) -> tuple[list[str], list[SkippedColumn]]:
    """The columns fit for `analysis`, and the others with the reason they were skipped."""
    usable, skipped = [], []
    for column in columns:
        if column not in frame.columns:
            skipped.append(SkippedColumn(column, analysis, "not in the table"))
            continue
        values = frame[column]
        if numeric and not pd.api.types.is_numeric_dtype(values):
            reason = f"not numeric (dtype {values.dtype})"
        else:
            reason = unusable_reason(values)
        if reason:
            skipped.append(SkippedColumn(column, analysis, reason))
        else:
            usable.append(column)
    return usable, skipped


def require_usable_target(frame: pd.DataFrame, target: str = TARGET) -> None:
    if target not in frame.columns:
        raise EdaInputError(f"The target column '{target}' is not in the table")
    reason = unusable_reason(frame[target])
    if reason:
        raise EdaInputError(f"The target column '{target}' cannot be analysed: {reason}")


# --- numbers against numbers ----------------------------------------------------------------


def target_correlations(frame: pd.DataFrame, features, target: str = TARGET) -> pd.DataFrame:
    """Pearson and Spearman of each feature with the target, strongest |Pearson| first.

    Each pair uses the rows where both values are present.
    """
    y = frame[target].astype(float)
    rows = []
    for feature in features:
        x = frame[feature].astype(float)
        rows.append(
            {
                "feature": feature,
                "pearson": x.corr(y, method="pearson"),
                "spearman": x.corr(y, method="spearman"),
                "rows": int((x.notna() & y.notna()).sum()),
            }
        )
    table = pd.DataFrame(rows, columns=["feature", "pearson", "spearman", "rows"])
    order = table["pearson"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def correlation_matrix(frame: pd.DataFrame, columns, method: str = "pearson") -> pd.DataFrame:
    """The square matrix of pairwise correlations (pairwise-complete rows)."""
    return frame[list(columns)].astype(float).corr(method=method)


def long_correlations(pearson: pd.DataFrame, spearman: pd.DataFrame) -> pd.DataFrame:
    """Both square matrices as one long table: one row per (feature_a, feature_b)."""
    long = pearson.rename_axis("feature_a").stack(future_stack=True).rename("pearson").to_frame()
    long = long.rename_axis(["feature_a", "feature_b"])
    long["spearman"] = spearman.stack(future_stack=True).to_numpy()
    return long.reset_index()


# --- categories against numbers and against categories -------------------------------------


def category_codes(values: pd.Series) -> np.ndarray:
    """Integer code of each row's level; -1 where the value is missing."""
    return pd.factorize(values)[0]


def _eta_from_codes(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """eta of one categorical (codes, -1 = missing) against each column of `values` (n x p).

    Group sums come from one matrix product, so a category against all numbers costs one pass.
    """
    present = (codes >= 0)[:, None] & ~np.isnan(values)
    groups = np.zeros((len(codes), codes.max() + 1))
    groups[codes >= 0, codes[codes >= 0]] = 1.0
    filled = np.where(present, values, 0.0)
    counts = groups.T @ present
    sums = groups.T @ filled
    n = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        grand_mean = sums.sum(axis=0) / n
        group_means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
        ss_between = (counts * (group_means - grand_mean) ** 2).sum(axis=0)
        ss_total = (np.where(present, values - grand_mean, 0.0) ** 2).sum(axis=0)
        eta = np.sqrt(np.minimum(ss_between / ss_total, 1.0))
    return np.where((n >= 2) & (ss_total > 0), eta, np.nan)


def correlation_ratio(categories: pd.Series, values: pd.Series) -> float:
    """eta = sqrt(between-group sum of squares / total sum of squares), in [0, 1].

    1 when the category determines the value, 0 when every group has the same mean. Rows where
    either value is missing are left out.
    """
    column = values.to_numpy(dtype=float).reshape(-1, 1)
    return float(_eta_from_codes(category_codes(categories), column)[0])


def _cramers_v_from_table(table: np.ndarray) -> float:
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    r, k = table.shape
    if n < 2 or r < 2 or k < 2:
        return float("nan")
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    phi2 = float(((table - expected) ** 2 / expected).sum()) / n
    phi2_corrected = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    denominator = min(r_corrected - 1, k_corrected - 1)
    if denominator <= 0:
        return float("nan")
    return float(np.sqrt(min(phi2_corrected / denominator, 1.0)))


def _cramers_v_from_codes(codes_a: np.ndarray, codes_b: np.ndarray) -> float:
    present = (codes_a >= 0) & (codes_b >= 0)
    if not present.any():
        return float("nan")
    codes_a, codes_b = codes_a[present], codes_b[present]
    levels_b = codes_b.max() + 1
    cells = np.bincount(codes_a * levels_b + codes_b, minlength=(codes_a.max() + 1) * levels_b)
    return _cramers_v_from_table(cells.reshape(-1, levels_b))


def cramers_v_bias_corrected(a: pd.Series, b: pd.Series) -> float:
    """Bergsma's bias-corrected Cramer's V, in [0, 1]: ~0 when independent, 1 when identical.

    Rows where either value is missing are left out.
    """
    return _cramers_v_from_codes(category_codes(a), category_codes(b))


def categorical_numeric_associations(
    frame: pd.DataFrame, categorical, numeric, target: str = TARGET
) -> pd.DataFrame:
    """eta of every category against every number; the target's rows first, strongest first."""
    numeric = list(numeric)
    values = frame[numeric].to_numpy(dtype=float)
    blocks = [
        pd.DataFrame(
            {
                "measure": ETA,
                "feature_a": category,
                "feature_b": numeric,
                "value": _eta_from_codes(category_codes(frame[category]), values),
            }
        )
        for category in categorical
    ]
    columns = ["measure", "feature_a", "feature_b", "value"]
    table = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=columns)
    table["with_target"] = table["feature_b"] == target
    table = table.sort_values(["with_target", "value"], ascending=False, kind="stable")
    return table[columns].reset_index(drop=True)


def categorical_pair_associations(frame: pd.DataFrame, categorical) -> pd.DataFrame:
    """Bias-corrected Cramer's V of every pair of categories, strongest first."""
    categorical = list(categorical)
    codes = {column: category_codes(frame[column]) for column in categorical}
    rows = [
        {
            "measure": CRAMERS_V,
            "feature_a": first,
            "feature_b": second,
            "value": _cramers_v_from_codes(codes[first], codes[second]),
        }
        for i, first in enumerate(categorical)
        for second in categorical[i + 1 :]
    ]
    table = pd.DataFrame(rows, columns=["measure", "feature_a", "feature_b", "value"])
    return table.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def top_associations(
    eta: pd.DataFrame, cramers: pd.DataFrame, target: str = TARGET, n: int = TOP_N
) -> pd.DataFrame:
    """The n strongest of each kind: category vs price, category vs other number, two categories."""
    with_target = eta["feature_b"] == target
    groups = {
        f"category vs {target}": eta[with_target],
        "category vs numeric feature": eta[~with_target],
        "category vs category": cramers,
    }
    blocks = []
    for kind, table in groups.items():
        top = table.dropna(subset=["value"]).nlargest(n, "value").copy()
        top.insert(0, "kind", kind)
        top.insert(1, "rank", range(1, len(top) + 1))
        blocks.append(top)
    return pd.concat(blocks, ignore_index=True)


# --- bands, encoding and missing values -----------------------------------------------------


def band_summary(encoded: pd.DataFrame, bands=None, target: str = TARGET) -> pd.DataFrame:
    """Sales and median price per band of each banded column, bands in their natural order."""
    bands = BANDS if bands is None else bands
    blocks = []
    for column, (_, labels) in bands.items():
        band = pd.Categorical(encoded[column + BAND_SUFFIX], categories=labels, ordered=True)
        grouped = encoded[target].groupby(band, observed=False)
        block = pd.DataFrame(
            {
                "binned_column": column,
                "band_order": range(1, len(labels) + 1),
                "band": labels,
                "sales": grouped.size().to_numpy(),
                "median_price": grouped.median().to_numpy(dtype=float),
            }
        )
        block["share_of_sales"] = block["sales"] / max(len(encoded), 1)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


class MissingCounts(NamedTuple):
    """How many values each column of the raw table lacks, out of how many rows.

    The EDA needs only these counts of the raw table.
    """

    counts: pd.Series
    rows: int

    @classmethod
    def of(cls, raw: pd.DataFrame) -> "MissingCounts":
        return cls(raw.isna().sum(), len(raw))


def missing_before_cleaning(raw: MissingCounts) -> pd.DataFrame:
    """Missing values per column of the source, and whether NA there means 'the house has none'."""
    documented_none = {c for feature in ABSENT_FEATURES for c in feature.categorical}
    missing = raw.counts[raw.counts > 0].sort_values(ascending=False, kind="stable")
    table = pd.DataFrame(
        {
            "column": missing.index,
            "missing": missing.to_numpy(dtype="int64"),
            "share_pct": (100 * missing.to_numpy() / max(raw.rows, 1)).round(2),
        }
    )
    table["meaning"] = np.where(
        table["column"].isin(documented_none), "house has none (documented)", "missing value"
    )
    return table


# --- feature importance ----------------------------------------------------------------------


class Importance(NamedTuple):
    table: pd.DataFrame
    rank_agreement: float
    holdout_r2: float
    training_rows: int


def importance_features(frame: pd.DataFrame) -> pd.DataFrame:
    """All features of the models' feature frame as numbers, gaps kept.

    Ordinal levels become their rank on the fixed scale, nominal levels integer codes.
    """
    numbers = [c for c in (*NUMERIC_FEATURES, *DERIVED_FEATURES) if c in frame.columns]
    columns = {c: pd.to_numeric(frame[c], errors="coerce") for c in numbers}
    for column, scale in ORDINAL_SCALES.items():
        if column in frame.columns:
            columns[column] = ordinal_ranks(frame[column], scale)
    for column in NOMINAL_COLUMNS:
        if column in frame.columns:
            # Sorted: a level's code does not depend on the order (or sample) of the rows.
            codes, _ = pd.factorize(frame[column], sort=True)
            columns[column] = pd.Series(np.where(codes < 0, np.nan, codes), index=frame.index)
    return pd.DataFrame(columns, index=frame.index).astype(float)


def _is_discrete(values: pd.Series) -> bool:
    present = values.dropna()
    whole = bool(np.all(np.mod(present, 1) == 0))
    return whole and present.nunique() <= MAX_DISCRETE_LEVELS


def mutual_information(X: pd.DataFrame, y: pd.Series, nominal) -> pd.Series:
    """Mutual information with the target (nats); gaps filled with the median of these rows."""
    X = X.fillna(X.median())
    discrete = np.array([c in nominal or _is_discrete(X[c]) for c in X.columns])
    with parallel_config(backend="threading"):  # threads: no worker processes to start
        scores = mutual_info_regression(
            X.to_numpy(),
            y.to_numpy(),
            discrete_features=discrete,
            n_neighbors=MI_NEIGHBOURS,
            random_state=RANDOM_STATE,
            n_jobs=MI_THREADS,
        )
    return pd.Series(scores, index=X.columns)


def permutation_r2_drops(
    estimator, X: np.ndarray, y: np.ndarray, n_repeats: int, random_state: int
) -> np.ndarray:
    """sklearn's `permutation_importance` (R² scoring), with the same shuffles and result.

    sklearn predicts once per feature and repeat, many small calls whose fixed cost dominates.
    Here the permuted copies of PERMUTATION_BATCH_FEATURES features are stacked and predicted
    at once. As in sklearn, every feature gets a fresh generator from
    one seed, and each repeat shuffles the already shuffled column again. Returns the drops
    in R², shape (features, repeats).
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    generator = check_random_state(seed)
    shuffle, order, orders = np.arange(len(X)), np.arange(len(X)), []
    for _ in range(n_repeats):
        generator.shuffle(shuffle)
        order = order[shuffle]  # cumulative, as sklearn's in-place column shuffle
        orders.append(order)
    baseline = r2_score(y, estimator.predict(X))
    total = ((y - y.mean()) ** 2).sum()
    drops = np.empty((X.shape[1], n_repeats))
    for start in range(0, X.shape[1], PERMUTATION_BATCH_FEATURES):
        features = range(start, min(start + PERMUTATION_BATCH_FEATURES, X.shape[1]))
        copies = np.tile(X, (len(features) * n_repeats, 1))
        for block, (feature, order) in enumerate((f, o) for f in features for o in orders):
            copies[block * len(X) : (block + 1) * len(X), feature] = X[order, feature]
        predictions = estimator.predict(copies).reshape(len(features), n_repeats, len(X))
        # R² of every copy at once (r2_score validates its input on each of 258 calls), with
        # r2_score's rule for a constant target: 1 for a perfect prediction, else 0.
        residual = ((predictions - y) ** 2).sum(axis=2)
        if total > 0:
            r2 = 1 - residual / total
        else:
            r2 = np.where(residual == 0, 1.0, 0.0)
        drops[list(features)] = baseline - r2
    return drops


def permutation_importances(X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, float]:
    """Mean and std of the drop in R² when each feature is shuffled, and the unshuffled R².

    The booster is fitted on 70% of the given rows and permuted on the other 30%.
    """
    fit_rows, permute_rows = train_test_split(
        np.arange(len(X)), test_size=PERMUTATION_HOLDOUT, random_state=RANDOM_STATE
    )
    values, target = X.to_numpy(), y.to_numpy()
    with threadpool_limits(limits=1):
        booster = HistGradientBoostingRegressor(
            **BOOSTER_PARAMS, early_stopping=False, random_state=RANDOM_STATE
        ).fit(values[fit_rows], target[fit_rows])
    drops = permutation_r2_drops(
        booster, values[permute_rows], target[permute_rows], PERMUTATION_REPEATS, RANDOM_STATE
    )
    table = pd.DataFrame(
        {"permutation_importance": drops.mean(axis=1), "permutation_std": drops.std(axis=1)},
        index=X.columns,
    )
    return table, float(booster.score(values[permute_rows], target[permute_rows]))


def rank_agreement(first: pd.Series, second: pd.Series) -> float:
    """Spearman correlation of two importance scores over the same features."""
    if len(first) < 3:
        return float("nan")
    return float(first.corr(second, method="spearman"))


def importance_rows(price: pd.Series, train_index: pd.Index) -> pd.Index:
    """The rows the importance is learned on: the training rows with a price, a fixed sample
    of them above IMPORTANCE_MAX_ROWS (k-NN mutual information grows as n log n per
    feature). Only these rows' features are needed, so a large table's are not all made."""
    sold = train_index[price.loc[train_index].notna().to_numpy()]
    return fixed_sample(pd.DataFrame(index=sold), IMPORTANCE_MAX_ROWS).index


def importance_pids(cleaned: pd.DataFrame) -> pd.Series:
    """The parcel ids of the cleaned table's `importance_rows`, indexed by those rows: the
    sales whose features the importance needs. A table too small for the EDA fails here,
    with `run_eda`'s message, before any row is read."""
    require_rows(cleaned)
    rows = importance_rows(cleaned[TARGET], split_index(cleaned)[0])
    return cleaned.loc[rows, "PID"]


def feature_importance(
    features: pd.DataFrame, price: pd.Series, train_index: pd.Index
) -> tuple[Importance, list[SkippedColumn]]:
    """Mutual information and permutation importance on log price, training rows only.

    `features` are the models' features (`lib.data.features.house_features`) of the sales,
    or at least of their `importance_rows`.
    """
    train = features.loc[importance_rows(price, train_index)]
    X, skipped = _usable_training_features(importance_features(train))
    if not X.shape[1]:
        raise EdaInputError("No feature varies on the training rows; importance is undefined")
    y = np.log(price.loc[train.index].astype(float))
    mi = mutual_information(X, y, nominal=set(NOMINAL_COLUMNS))
    permutation, holdout_r2 = permutation_importances(X, y)
    table = permutation.assign(mutual_information=mi)
    table["mi_rank"] = table["mutual_information"].rank(ascending=False, method="min")
    table["permutation_rank"] = table["permutation_importance"].rank(ascending=False, method="min")
    table = table.sort_values("permutation_importance", ascending=False, kind="stable")
    table = table.rename_axis("feature").reset_index()
    table = table[
        ["feature", "mutual_information", "permutation_importance", "permutation_std",
         "mi_rank", "permutation_rank"]
    ]  # fmt: skip
    agreement = rank_agreement(table["mutual_information"], table["permutation_importance"])
    return Importance(table, agreement, holdout_r2, len(X)), skipped


def _usable_training_features(X: pd.DataFrame) -> tuple[pd.DataFrame, list[SkippedColumn]]:
    usable, skipped = usable_columns(X, X.columns, "feature importance (training rows)")
    return X[usable], skipped


# --- everything at once ---------------------------------------------------------------------


class EdaResult(NamedTuple):
    rows: int
    association_rows: int
    target_correlations: pd.DataFrame
    pearson_matrix: pd.DataFrame
    correlation_long: pd.DataFrame
    eta: pd.DataFrame
    cramers_v: pd.DataFrame
    top_associations: pd.DataFrame
    bins: pd.DataFrame
    encoding: pd.DataFrame
    importance: Importance
    missing_before: pd.DataFrame
    skipped: list[SkippedColumn]


def skipped_table(skipped: list[SkippedColumn]) -> pd.DataFrame:
    return pd.DataFrame(skipped, columns=list(SkippedColumn._fields)).astype(str)


def run_eda(
    raw: MissingCounts, cleaned: pd.DataFrame, encoded: pd.DataFrame, features: pd.DataFrame
) -> EdaResult:
    """Every statistic of the report, from the raw table's gaps, the cleaned and encoded
    tables, and the models' features of the same sales (for the importance: of all of them,
    or only of their `importance_rows`)."""
    require_rows(cleaned)
    require_usable_target(cleaned)
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_eda(raw, cleaned, encoded, features)


def _run_eda(
    raw: MissingCounts, cleaned: pd.DataFrame, encoded: pd.DataFrame, features: pd.DataFrame
) -> EdaResult:
    sample = fixed_sample(cleaned, ASSOCIATION_MAX_ROWS)
    numeric, skipped = usable_columns(
        sample, (*NUMERIC_FEATURES, *DERIVED_FEATURES), "correlations", numeric=True
    )
    categorical, skipped_categories = usable_columns(
        sample, CATEGORICAL_COLUMNS, "categorical associations"
    )
    pearson = correlation_matrix(sample, [*numeric, TARGET], "pearson")
    spearman = correlation_matrix(sample, [*numeric, TARGET], "spearman")
    eta = categorical_numeric_associations(sample, categorical, [TARGET, *numeric])
    cramers = categorical_pair_associations(sample, categorical)
    train_index, _ = split_index(cleaned)
    importance, skipped_features = feature_importance(features, cleaned[TARGET], train_index)
    return EdaResult(
        rows=len(cleaned),
        association_rows=len(sample),
        target_correlations=target_correlations(sample, numeric),
        pearson_matrix=pearson,
        correlation_long=long_correlations(pearson, spearman),
        eta=eta,
        cramers_v=cramers,
        top_associations=top_associations(eta, cramers),
        bins=band_summary(encoded),
        encoding=encoding_summary(cleaned, encoded),
        importance=importance,
        missing_before=missing_before_cleaning(raw),
        skipped=[*skipped, *skipped_categories, *skipped_features],
    )


# The EDA's warehouse tables: name -> what it holds (each is an asset of its own).
EDA_TABLES = {
    "eda_target_correlations": "Pearson and Spearman correlation of each numeric feature with "
    "SalePrice.",
    "eda_correlation_matrix": "Pearson and Spearman correlation of every pair of numeric "
    "features (long format).",
    "eda_categorical_associations": "Correlation ratio (eta) of each category with the price, "
    "and bias-corrected Cramér's V of each pair of categories.",
    "eda_top_associations": "The strongest associations of each kind, ranked.",
    "eda_bins": "Sales, share and median price in each band of the binned columns.",
    "eda_encoding": "How each column was encoded, and which rare levels were grouped as Other.",
    "eda_feature_importance": "Mutual information and permutation importance of each feature, "
    "learned on the training split.",
    "eda_missing_before_cleaning": "Missing values per raw column, and what NA means there.",
    "eda_skipped_columns": "Columns left out of an analysis, with the reason.",
}


def warehouse_tables(result: EdaResult) -> dict[str, pd.DataFrame]:
    """The supporting tables, named as they are stored in the warehouse (`EDA_TABLES`)."""
    return {
        "eda_target_correlations": result.target_correlations,
        "eda_correlation_matrix": result.correlation_long,
        "eda_categorical_associations": pd.concat(
            [result.eta, result.cramers_v], ignore_index=True
        ),
        "eda_top_associations": result.top_associations,
        "eda_bins": result.bins,
        "eda_encoding": result.encoding,
        "eda_feature_importance": result.importance.table,
        "eda_missing_before_cleaning": result.missing_before,
        "eda_skipped_columns": skipped_table(result.skipped),
    }
