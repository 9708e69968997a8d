"""A fitted histogram booster's trees as flat arrays, to price a few houses at a time.

scikit-learn's `HistGradientBoostingRegressor.predict` validates its input, then calls one
compiled predictor per tree: 400 Python-level calls for one house, most of the scoring
server's time per request. Here every node of every tree is one row of a few flat arrays, and
a batch of houses walks all trees at once, one level per step, with numpy indexing. The walk
is the compiled predictor's (`sklearn/ensemble/_hist_gradient_boosting/_predictor.pyx`): a
missing value follows the node's missing direction; a category goes left if the split's
bitset holds it, right if it is a category the booster saw in training, and otherwise (or if
negative) follows the missing direction. The leaves are summed tree by tree from the baseline,
in scikit-learn's order, so the result is equal, not close (tested on every sale).

Above `FLAT_MAX_ROWS` houses the compiled predictor is faster and is used instead. It passes
over all of its rows once per tree, so above `PREDICT_BLOCK_ROWS` it is given the rows a block
at a time: a block's features (about 7 MB) stay in the processor's cache for all 400 passes,
where the whole test split at 100x (88,000 houses, 60 MB) is read from memory 400 times.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

FLAT_MAX_ROWS = 256
PREDICT_BLOCK_ROWS = 10_000
CATEGORIES = 256  # the booster's categories are bin codes, below 256


def _dense(bitsets: np.ndarray) -> np.ndarray:
    """(n, 8) uint32 bitsets as an (n, 256) boolean table: [i, c] is bit c of bitset i."""
    bits = (bitsets[:, :, None] >> np.arange(32, dtype=np.uint32)) & 1
    return bits.reshape(len(bitsets), CATEGORIES).astype(bool)


class FlatForest(NamedTuple):
    # The booster's own input remapping (scikit-learn >= 1.6 with categorical features): the
    # categorical columns first, each value replaced by its index among the training values
    # (NaN if unseen), then the numeric columns.
    categorical_columns: np.ndarray
    categories: tuple[np.ndarray, ...]  # sorted training values of each categorical column
    numeric_columns: np.ndarray
    roots: np.ndarray  # index of each tree's root node
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray  # absolute node indices
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    count: np.ndarray  # training rows that reached each node
    missing_left: np.ndarray
    is_categorical: np.ndarray
    category_row: np.ndarray  # each node's row of left_categories (0: an all-False row)
    left_categories: np.ndarray  # (row, category): the category goes left at the split
    known_categories: np.ndarray  # (feature, category): the booster saw it in training
    depth: int
    baseline: float

    def remapped(self, X: np.ndarray) -> np.ndarray:
        """X as the trees read it."""
        X = np.asarray(X, dtype=np.float64)
        columns = [X[:, self.numeric_columns]]
        coded = []
        for column, values in zip(self.categorical_columns, self.categories, strict=True):
            x = X[:, column]
            position = np.minimum(np.searchsorted(values, x), len(values) - 1)
            coded.append(np.where(values[position] == x, position, np.nan))
        if coded:
            columns.insert(0, np.column_stack(coded))
        return np.hstack(columns)

    def goes_left(self, X: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Whether each row of X (remapped) goes left at its nodes: `node` is (rows, k)."""
        rows = np.arange(len(X))[:, None]
        feature = self.feature[node]
        x = X[rows, feature]
        missing = np.isnan(x)
        numeric_left = x <= self.threshold[node]
        usable = ~missing & (x >= 0) & (x < CATEGORIES)
        code = np.where(usable, x, 0).astype(np.intp)
        in_left = usable & self.left_categories[self.category_row[node], code]
        known = usable & self.known_categories[feature, code]
        category_left = in_left | (~known & self.missing_left[node])
        return np.where(
            missing,
            self.missing_left[node],
            np.where(self.is_categorical[node], category_left, numeric_left),
        )

    def columns(self) -> np.ndarray:
        """The column of the booster's input matrix each remapped column (a node's feature)
        is."""
        return np.concatenate([self.categorical_columns, self.numeric_columns])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The booster's `predict` of the rows of X (the matrix it was fitted on)."""
        X = self.remapped(X)
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        for _ in range(self.depth):
            step = np.where(self.goes_left(X, node), self.left[node], self.right[node])
            node = np.where(self.is_leaf[node], node, step)
        leaves = self.value[node]
        total = np.concatenate([np.full((len(X), 1), self.baseline), leaves], axis=1)
        # add.accumulate adds left to right, as scikit-learn adds one tree after another.
        return np.add.accumulate(total, axis=1)[:, -1]


def flat_forest(booster: HistGradientBoostingRegressor) -> FlatForest:
    """The fitted booster's trees as one FlatForest (a regressor with one tree per iteration
    and the identity link: squared error)."""
    if booster.n_trees_per_iteration_ != 1 or booster.loss != "squared_error":
        raise ValueError("flat_forest supports squared-error regression boosters only")
    predictors = [iteration[0] for iteration in booster._predictors]
    sizes = [len(p.nodes) for p in predictors]
    offsets = np.cumsum([0, *sizes[:-1]])
    nodes = np.concatenate([p.nodes for p in predictors])
    # Each tree's categorical splits number their bitsets from 0; stack them with offsets.
    bitsets = [p.raw_left_cat_bitsets for p in predictors]
    bitset_offsets = np.cumsum([0, *(len(b) for b in bitsets[:-1])])
    stacked = np.concatenate(bitsets) if sum(len(b) for b in bitsets) else np.zeros((0, 8))
    is_categorical = nodes["is_categorical"].astype(bool)
    shift = np.repeat(offsets, sizes)
    bitset_row = nodes["bitset_idx"].astype(np.intp) + np.repeat(bitset_offsets, sizes)
    category_row = np.zeros(len(nodes), dtype=np.intp)
    category_row[is_categorical] = bitset_row[is_categorical] + 1
    left_categories = np.zeros((len(stacked) + 1, CATEGORIES), dtype=bool)
    if len(stacked):
        left_categories[1:] = _dense(stacked.astype(np.uint32))
    known_bitsets, feature_row = booster._bin_mapper.make_known_categories_bitsets()
    n_features = booster.n_features_in_
    known = np.zeros((n_features, CATEGORIES), dtype=bool)
    preprocessor = booster._preprocessor
    if preprocessor is None:
        categorical_columns, categories = np.array([], dtype=np.intp), ()
        numeric_columns, remapped_categorical = np.arange(n_features), np.zeros(n_features, bool)
    else:
        categorical_columns = np.flatnonzero(booster.is_categorical_)
        numeric_columns = np.flatnonzero(~booster.is_categorical_)
        categories = tuple(
            np.asarray(values, dtype=np.float64)
            for values in preprocessor.named_transformers_["encoder"].categories_
        )
        remapped_categorical = booster._is_categorical_remapped
    if len(known_bitsets):
        table = _dense(known_bitsets.astype(np.uint32))
        for f in np.flatnonzero(remapped_categorical):
            known[f] = table[feature_row[f]]
    return FlatForest(
        categorical_columns=categorical_columns.astype(np.intp),
        categories=categories,
        numeric_columns=numeric_columns.astype(np.intp),
        roots=offsets.astype(np.intp),
        feature=nodes["feature_idx"].astype(np.intp),
        threshold=nodes["num_threshold"].astype(np.float64),
        left=nodes["left"].astype(np.intp) + shift,
        right=nodes["right"].astype(np.intp) + shift,
        is_leaf=nodes["is_leaf"].astype(bool),
        value=nodes["value"].astype(np.float64),
        count=nodes["count"].astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(bool),
        is_categorical=is_categorical,
        category_row=category_row,
        left_categories=left_categories,
        known_categories=known,
        depth=int(nodes["depth"].max()),
        baseline=float(np.ravel(booster._baseline_prediction)[0]),
    )


def predict_trees(
    booster: HistGradientBoostingRegressor, forest: FlatForest | None, X
) -> np.ndarray:
    """The booster's predictions: through `forest` for a few rows, else scikit-learn's own
    (which also validates the input: no rows, the wrong columns, infinities), a block of rows
    at a time. Each row's sum over the trees is the same either way."""
    if forest is not None and 0 < len(X) <= FLAT_MAX_ROWS:
        values = np.asarray(X, dtype=np.float64)
        if values.shape[1] == booster.n_features_in_ and not np.isinf(values).any():
            return forest.predict(values)
    if len(X) <= PREDICT_BLOCK_ROWS:
        return booster.predict(X)
    rows = X.iloc if isinstance(X, pd.DataFrame) else X  # by position, whatever the index
    blocks = range(0, len(X), PREDICT_BLOCK_ROWS)
    return np.concatenate([booster.predict(rows[i : i + PREDICT_BLOCK_ROWS]) for i in blocks])
