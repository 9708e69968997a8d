"""The booster's encoding of a house as array lookups: the fast single-house path.

A fitted booster-style ColumnTransformer (`families.booster_preprocess`: numbers passed
through, ordinal and nominal levels to integer codes) validates and reshapes its input on
every call, which dominates when the scoring server prices one house. `LookupEncoding` holds
the same mapping as plain dictionaries, read off the fitted encoders themselves (each known
level, an unknown one and a gap are passed through them once), so its output is the
transformer's exactly (`test_the_lookup_encoding_equals_the_fitted_transformer`).
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.preprocessing import FunctionTransformer

UNKNOWN_LEVEL = "\x00unknown level\x00"
# Above this many houses a column's distinct levels are looked up, once each (pandas'
# factorize), rather than each value: a batch repeats a few levels many times, while for one
# house the factorize would cost more than the lookups.
DISTINCT_LOOKUP_ROWS = 64


class LookupEncoding(NamedTuple):
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    codes: tuple[dict, ...]  # per categorical column: level -> code
    unknown: tuple[float, ...]  # the code of a level the encoder never saw
    missing: tuple[float, ...]  # the code of a gap

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), len(self.numeric) + len(self.categorical)))
        out[:, : len(self.numeric)] = X[list(self.numeric)].to_numpy(dtype=float)
        # One block for all the levels: taking a fresh frame's columns one by one cost more
        # than the lookups for one house.
        levels = X[list(self.categorical)].to_numpy(dtype=object)
        for i in range(len(self.categorical)):
            values = levels[:, i]
            lookup, unknown = self.codes[i], self.unknown[i]
            if len(values) > DISTINCT_LOOKUP_ROWS:
                # A gap is factorized as -1, which takes the last code: the gap's.
                position, distinct = pd.factorize(values)
                found = (lookup.get(v, unknown) for v in distinct)
                codes = np.append(np.fromiter(found, float, len(distinct)), self.missing[i])
                codes = codes[position]
            else:
                codes = np.fromiter((lookup.get(v, unknown) for v in values), float, len(values))
                codes[pd.isna(values)] = self.missing[i]
            out[:, len(self.numeric) + i] = codes
        return out


def lookup_encoding(transformer) -> LookupEncoding | None:
    """The lookups of a fitted booster-style ColumnTransformer, or None for another layout."""
    steps = [(name, step, list(columns)) for name, step, columns in transformer.transformers_
             if name != "remainder"]  # fmt: skip
    if not steps or steps[0][0] != "numeric" or not _is_passthrough(steps[0][1]):
        return None
    numeric = tuple(steps[0][2])
    categorical, codes, unknown, missing = [], [], [], []
    for _, encoder, columns in steps[1:]:
        if not hasattr(encoder, "categories_"):
            return None
        levels = [[v for v in cats if not pd.isna(v)] for cats in encoder.categories_]
        rows = max(len(v) for v in levels) + 2
        probe = {}
        for column, known in zip(columns, levels, strict=True):
            padded = [*known, *[known[0]] * (rows - 2 - len(known)), UNKNOWN_LEVEL, None]
            probe[column] = np.array(padded, dtype=object)
        encoded = encoder.transform(pd.DataFrame(probe)[columns])
        for k, (column, known) in enumerate(zip(columns, levels, strict=True)):
            categorical.append(column)
            codes.append({level: float(encoded[r, k]) for r, level in enumerate(known)})
            unknown.append(float(encoded[rows - 2, k]))
            missing.append(float(encoded[rows - 1, k]))
    return LookupEncoding(numeric, tuple(categorical), tuple(codes), tuple(unknown), tuple(missing))


def _is_passthrough(step) -> bool:
    """'passthrough', which a fitted ColumnTransformer holds as an identity FunctionTransformer."""
    return step == "passthrough" or (
        isinstance(step, FunctionTransformer) and step.func is None and step.inverse_func is None
    )
