"""Reasons for an estimate: how much each feature of a house moved its log price.

Both families learn log(price), so a house's log estimate splits exactly into a base value
and one contribution per model feature (`lib.data.features.FEATURES`), with
base + sum of contributions = log(estimate):

- **Linear model.** The ridge is linear in its encoded columns, so a column's contribution is
  its coefficient times the house's distance from the mean of the training rows; a feature's
  contribution is the sum over its columns (a spline-expanded area has five, a nominal one
  per level). The base is the log estimate of the mean encoded training row.
- **Booster.** SHAP values (Lundberg et al., 2018, "Consistent individualized feature
  attribution for tree ensembles"), exact and path-dependent, as shap's TreeExplainer
  computes them for scikit-learn's histogram booster: a feature outside a set S is
  integrated out by following each split's training counts. A leaf whose path uses d distinct
  features adds, to feature i on its path, value x (o_i - z_i) x sum_k W(k) c_k, where o_j is
  1 if the house takes the path's side at every split on j (else 0), z_j the share of the
  training rows that did, c_k the coefficient of t^k in prod_{j != i} (z_j + o_j t) and
  W(k) = k! (d - k - 1)! / d!. Leaves are grouped by d and all houses and leaves of a group are
  computed at once with numpy; the polynomial for each i is the full product divided by its
  own factor. The base is the trees' mean over the training rows plus the booster's baseline.

A contribution in dollars splits the gap between the estimate and the base price exp(base)
in proportion to the log contributions: dollars_i = contribution_i x L(estimate, exp(base)),
L the logarithmic mean (a - b) / (ln a - ln b). They add up to estimate - exp(base) exactly,
which a per-feature exp() would not.
"""

import math
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.ml.trees import FlatForest

TOP_REASONS = 10
OTHER_FEATURES = "all other features"
BASE_VALUE = "base value"
REASON_COLUMNS = ("PID", "rank", "feature", "value", "contribution", "dollars")
# Houses whose decisions at every node are held at once (rows x nodes booleans).
CHUNK_ROWS = 256


class Contributions(NamedTuple):
    base: float  # log price
    values: np.ndarray  # (houses, features), log price
    features: tuple[str, ...]


def encoded_owners(preprocess, features: tuple[str, ...]) -> np.ndarray:
    """For a fitted ColumnTransformer, the index in `features` of the feature each output
    column comes from (by its output name: "transformer__Feature" or "Feature_suffix")."""
    owners = []
    for name in preprocess.get_feature_names_out():
        column = name.split("__", 1)[1]
        matches = [i for i, f in enumerate(features) if column == f or column.startswith(f + "_")]
        if not matches:
            raise ValueError(f"encoded column {name!r} names none of the model's features")
        owners.append(max(matches, key=lambda i: len(features[i])))
    return np.array(owners, dtype=np.intp)


def by_feature(columns: np.ndarray, owners: np.ndarray, n_features: int) -> np.ndarray:
    """(houses, encoded columns) summed into (houses, features)."""
    summed = np.zeros((columns.shape[0], n_features))
    np.add.at(summed.T, owners, columns.T)
    return summed


class LinearReasons(NamedTuple):
    """The ridge's coefficients and the mean encoded training row (fitted on the training
    split), and which feature each encoded column belongs to."""

    coef: np.ndarray
    intercept: float
    centre: np.ndarray
    owners: np.ndarray
    features: tuple[str, ...]

    def explain(self, encoded: np.ndarray) -> Contributions:
        columns = (np.asarray(encoded, dtype=float) - self.centre) * self.coef
        base = float(self.intercept + self.coef @ self.centre)
        return Contributions(
            base, by_feature(columns, self.owners, len(self.features)), self.features
        )


def linear_reasons(estimator, X_fit: pd.DataFrame, features: tuple[str, ...]) -> LinearReasons:
    """For a fitted linear family (a TransformedTargetRegressor over preprocess + ridge)."""
    preprocess, ridge = estimator.regressor_[:-1], estimator.regressor_[-1]
    centre = np.asarray(preprocess.transform(X_fit), dtype=float).mean(axis=0)
    owners = encoded_owners(estimator.regressor_.named_steps["preprocess"], features)
    return LinearReasons(
        np.asarray(ridge.coef_, dtype=float), float(ridge.intercept_), centre, owners, features
    )


class PathGroup(NamedTuple):
    """Every root-to-leaf path (of every tree) that splits on `d` distinct features."""

    value: np.ndarray  # (L,) leaf values
    column: np.ndarray  # (L, d) input column of each distinct feature
    zero: np.ndarray  # (L, d) share of training rows that took the path at that feature
    node: np.ndarray  # (L, m) the path's split nodes (in TreeReasons.internal), padded
    left: np.ndarray  # (L, m) whether the path goes left there
    slot: np.ndarray  # (L, m) which of the d features the split is on; d for padding


class TreeReasons(NamedTuple):
    groups: tuple[PathGroup, ...]
    internal: np.ndarray  # the forest's split nodes; a group's `node` indexes into these
    base: float
    owners: np.ndarray  # feature of each of the booster's input columns
    features: tuple[str, ...]


def tree_reasons(forest: FlatForest, owners: np.ndarray, features: tuple[str, ...]) -> TreeReasons:
    """The booster's paths grouped for `tree_contributions`."""
    columns = forest.columns()
    internal = np.flatnonzero(~forest.is_leaf)
    split_index = np.zeros(len(forest.is_leaf), dtype=np.intp)
    split_index[internal] = np.arange(len(internal))
    paths = defaultdict(list)
    expected = forest.baseline
    for root in forest.roots:
        stack = [(int(root), ())]
        while stack:
            node, steps = stack.pop()
            if forest.is_leaf[node]:
                distinct: dict[int, int] = {}
                for parent, _ in steps:
                    distinct.setdefault(int(forest.feature[parent]), len(distinct))
                zero = np.ones(len(distinct))
                for parent, went_left in steps:
                    child = forest.left[parent] if went_left else forest.right[parent]
                    zero[distinct[int(forest.feature[parent])]] *= (
                        forest.count[child] / forest.count[parent]
                    )
                expected += forest.value[node] * float(np.prod(zero))
                paths[len(distinct)].append((forest.value[node], distinct, zero, steps))
                continue
            stack.append((int(forest.left[node]), (*steps, (node, True))))
            stack.append((int(forest.right[node]), (*steps, (node, False))))
    groups = []
    for d, leaves in sorted(paths.items()):
        if d == 0:
            continue  # a tree that is one leaf moves every house alike: only the base
        longest = max(len(steps) for *_, steps in leaves)
        count = len(leaves)
        group = PathGroup(
            value=np.array([v for v, *_ in leaves]),
            column=np.zeros((count, d), dtype=np.intp),
            zero=np.array([z for _, _, z, _ in leaves]),
            node=np.zeros((count, longest), dtype=np.intp),
            left=np.zeros((count, longest), dtype=bool),
            slot=np.full((count, longest), d, dtype=np.intp),
        )
        for i, (_, distinct, _, steps) in enumerate(leaves):
            for feature, position in distinct.items():
                group.column[i, position] = columns[feature]
            for s, (parent, went_left) in enumerate(steps):
                group.node[i, s] = split_index[parent]
                group.left[i, s] = went_left
                group.slot[i, s] = distinct[int(forest.feature[parent])]
        groups.append(group)
    return TreeReasons(tuple(groups), internal, float(expected), owners, features)


def shapley_weights(d: int) -> np.ndarray:
    return np.array(
        [math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)]
    )


def _group_contributions(group: PathGroup, decisions: np.ndarray, out: np.ndarray) -> None:
    """Add one group's SHAP values to `out` (houses, input columns)."""
    count, d = group.column.shape
    agree = [decisions[:, group.node[:, s]] == group.left[:, s] for s in range(group.node.shape[1])]
    one = []  # o_j per distinct feature: (houses, leaves) each
    for j in range(d):
        on_j = np.ones_like(agree[0])
        for s, agreed in enumerate(agree):
            on_j &= agreed | (group.slot[:, s] != j)
        one.append(on_j.astype(float))
    # prod_j (z_j + o_j t) as coefficients of t^0..t^d, each (houses, leaves)
    poly = [np.ones_like(one[0])] + [np.zeros_like(one[0]) for _ in range(d)]
    for j in range(d):
        z = group.zero[:, j]
        for k in range(j + 1, 0, -1):
            poly[k] = poly[k] * z + poly[k - 1] * one[j]
        poly[0] = poly[0] * z
    weights = shapley_weights(d)
    for i in range(d):
        z = group.zero[:, i]
        # sum_k W(k) c_k of the product without (z_i + o_i t): where o_i = 0 it is the
        # product over z_i; where o_i = 1 it is unwound from the top, F_k = z q_k + q_(k-1).
        divided = sum(weights[k] * poly[k] for k in range(d)) / z
        q = poly[d]
        unwound = weights[d - 1] * q
        for k in range(d - 1, 0, -1):
            q = poly[k] - z * q
            unwound += weights[k - 1] * q
        weighted = np.where(one[i] > 0, unwound, divided)
        phi = group.value * (one[i] - z) * weighted  # (houses, leaves)
        # summed per column in a fixed order (a BLAS product's order depends on its threads)
        order = np.argsort(group.column[:, i], kind="stable")
        column = group.column[order, i]
        starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
        out[:, column[starts]] += np.add.reduceat(phi[:, order], starts, axis=1)


def tree_contributions(
    reasons: TreeReasons, forest: FlatForest, encoded: np.ndarray
) -> Contributions:
    """Exact path-dependent SHAP values of the booster for rows of its input matrix."""
    encoded = np.asarray(encoded, dtype=float)
    columns = np.zeros((len(encoded), len(reasons.owners)))
    nodes = reasons.internal
    for start in range(0, len(encoded), CHUNK_ROWS):
        rows = forest.remapped(encoded[start : start + CHUNK_ROWS])
        decisions = forest.goes_left(rows, np.broadcast_to(nodes, (len(rows), len(nodes))))
        part = columns[start : start + CHUNK_ROWS]
        for group in reasons.groups:
            _group_contributions(group, decisions, part)
    values = by_feature(columns, reasons.owners, len(reasons.features))
    return Contributions(reasons.base, values, reasons.features)


def logarithmic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    gap = np.log(a) - np.log(b)
    close = np.abs(gap) < 1e-12
    return np.where(close, a, (a - b) / np.where(close, 1.0, gap))


def dollar_effects(contributions: Contributions, estimate: np.ndarray) -> np.ndarray:
    """Each contribution in dollars: a share of estimate - exp(base) (module docstring)."""
    scale = logarithmic_mean(np.asarray(estimate, float), math.exp(contributions.base))
    return contributions.values * scale[:, None]


def shown_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def reason_table(
    contributions: Contributions,
    estimate: np.ndarray,
    X: pd.DataFrame,
    pid,
    top: int = TOP_REASONS,
) -> pd.DataFrame:
    """Per house: rank 0 the base value, ranks 1..top its largest contributions (by size),
    then one row for all other features; contributions and dollars add up to the estimate."""
    dollars = dollar_effects(contributions, estimate)
    values = contributions.values
    order = np.argsort(-np.abs(values), axis=1, kind="stable")
    features = contributions.features
    house_values = X.loc[:, list(features)].to_numpy(dtype=object)
    rows = []
    base_price = math.exp(contributions.base)
    for h, house in enumerate(np.asarray(pid)):
        rows.append((house, 0, BASE_VALUE, "", contributions.base, base_price))
        shown = order[h, :top]
        for rank, f in enumerate(shown, start=1):
            value = shown_value(house_values[h, f])
            rows.append((house, rank, features[f], value, values[h, f], dollars[h, f]))
        rest = order[h, top:]
        if len(rest):
            rows.append(
                (house, top + 1, OTHER_FEATURES, f"{len(rest)} features",
                 float(values[h, rest].sum()), float(dollars[h, rest].sum()))
            )  # fmt: skip
    table = pd.DataFrame(rows, columns=list(REASON_COLUMNS))
    return table.astype({"PID": np.asarray(pid).dtype, "rank": "int64"})
