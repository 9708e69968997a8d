"""Binning and encoding of the cleaned table, ready for correlation analysis.

Ordinal scales (Ex/Gd/TA/Fa/Po, basement finish, ...) map to ranks that keep their order.
Nominal categories are one-hot encoded, with levels rarer than `RARE_SHARE` grouped as
"Other" so that a handful of sales does not make a column of its own. The bands use fixed
edges, not quantiles, so a band means the same thing in every run and the EDA's
price-per-band figures stay comparable over time.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import (
    ID_COLUMNS,
    NOMINAL_COLUMNS,
    NUMERIC_FEATURES,
    ORDINAL_SCALES,
    TARGET,
)

RARE_SHARE = 0.01
RARE_LEVEL = "Other"
ONE_HOT_SEPARATOR = "="
BAND_SUFFIX = " band"

INF = np.inf
BANDS: dict[str, tuple[list[float], list[str]]] = {
    "Gr Liv Area": (
        [0, 1000, 1500, 2000, 2500, INF],
        ["under 1,000 sq ft", "1,000-1,499 sq ft", "1,500-1,999 sq ft", "2,000-2,499 sq ft",
         "2,500 sq ft and more"],
    ),
    "Year Built": (
        [-INF, 1940, 1970, 1990, 2000, INF],
        ["before 1940", "1940-1969", "1970-1989", "1990-1999", "2000 and later"],
    ),
    TARGET: (
        [0, 100_000, 150_000, 200_000, 300_000, INF],
        ["under $100k", "$100k-$149k", "$150k-$199k", "$200k-$299k", "$300k and more"],
    ),
}  # fmt: skip


class EncodingError(ValueError):
    """A value the encoding does not know; the message names the column and the values."""


class EncodingResult(NamedTuple):
    frame: pd.DataFrame
    ordinal_mapped: list[str]
    one_hot: dict[str, int]
    rare_grouped: dict[str, list[str]]
    binned: list[str]


def add_bands(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed-edge bands, left-closed: [1000, 1500) is '1,000-1,499 sq ft'."""
    bands = {}
    for column, (edges, labels) in BANDS.items():
        banded = pd.cut(frame[column], bins=edges, labels=labels, right=False)
        bands[column + BAND_SUFFIX] = banded.astype(object)
    return pd.DataFrame(bands, index=frame.index)


def ordinal_ranks(values: pd.Series, scale: tuple[str, ...]) -> pd.Series:
    """Each level's rank on its scale (0 = the lowest); a level off the scale is NaN."""
    return values.map({level: rank for rank, level in enumerate(scale)})


def map_ordinals(frame: pd.DataFrame) -> pd.DataFrame:
    """Each ordinal level becomes its rank on the scale; unknown levels are an error."""
    mapped = {}
    for column, scale in ORDINAL_SCALES.items():
        ranks = ordinal_ranks(frame[column], scale)
        unknown = frame[column][ranks.isna()].unique()
        if len(unknown):
            raise EncodingError(
                f"Column '{column}' has level(s) {sorted(map(str, unknown))} outside its "
                f"ordinal scale {list(scale)}"
            )
        mapped[column] = ranks.astype("int64")
    return pd.DataFrame(mapped, index=frame.index)


def group_rare_levels(
    values: pd.Series, min_share: float = RARE_SHARE
) -> tuple[pd.Series, list[str]]:
    shares = values.value_counts(normalize=True)
    rare = sorted(shares.index[shares < min_share])
    if len(rare) < 2:  # grouping a single level would only rename it
        return values, []
    return values.where(~values.isin(rare), RARE_LEVEL), rare


def one_hot(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], dict[str, list[str]]]:
    blocks, levels, grouped = [], {}, {}
    for column in NOMINAL_COLUMNS:
        values, rare = group_rare_levels(frame[column])
        if rare:
            grouped[column] = rare
        # 0/1 in one byte: an int64 block is 8x the memory and the write.
        dummies = pd.get_dummies(values, prefix=column, prefix_sep=ONE_HOT_SEPARATOR, dtype="uint8")
        levels[column] = dummies.shape[1]
        blocks.append(dummies)
    return pd.concat(blocks, axis=1), levels, grouped


def encode_housing(cleaned: pd.DataFrame) -> EncodingResult:
    ordinals = map_ordinals(cleaned)
    dummies, levels, grouped = one_hot(cleaned)
    frame = pd.concat(
        [
            cleaned[[*ID_COLUMNS, TARGET, *NUMERIC_FEATURES]],
            ordinals,
            dummies,
            add_bands(cleaned),
        ],
        axis=1,
    )
    return EncodingResult(
        frame=frame,
        ordinal_mapped=list(ordinals.columns),
        one_hot=levels,
        rare_grouped=grouped,
        binned=list(BANDS),
    )


def encoding_summary(cleaned: pd.DataFrame, encoded: pd.DataFrame) -> pd.DataFrame:
    """One row per source column: how it was encoded and which rare levels were grouped.

    Read back from the tables themselves, so the encoding step and the EDA (which has only
    the tables) report the same rows: the rare levels grouped as "Other" are the cleaned
    levels that did not get a one-hot column of their own.
    """
    rows = [
        {"column": c, "encoding": "ordinal rank", "levels": len(scale), "rare levels grouped": ""}
        for c, scale in ORDINAL_SCALES.items()
        if c in encoded.columns and pd.api.types.is_numeric_dtype(encoded[c])
    ]
    for column in NOMINAL_COLUMNS:
        prefix = column + ONE_HOT_SEPARATOR
        levels = [c[len(prefix) :] for c in encoded.columns if c.startswith(prefix)]
        if not levels:
            continue
        grouped = []
        if RARE_LEVEL in levels:
            grouped = _levels_grouped_as_rare(cleaned[column], encoded[prefix + RARE_LEVEL])
        rows.append(
            {
                "column": column,
                "encoding": "one-hot",
                "levels": len(levels),
                "rare levels grouped": ", ".join(grouped),
            }
        )
    rows += [
        {"column": c, "encoding": "bands", "levels": len(labels), "rare levels grouped": ""}
        for c, (_, labels) in BANDS.items()
        if c + BAND_SUFFIX in encoded.columns
    ]
    return pd.DataFrame(rows, columns=["column", "encoding", "levels", "rare levels grouped"])


def _levels_grouped_as_rare(levels: pd.Series, other_flag: pd.Series) -> list[str]:
    """The cleaned levels of the rows one-hot encoded as "Other".

    A genuine level called "Other" (Exterior 2nd has one) counts only if it was itself rare.
    """
    flagged = set(levels.to_numpy()[other_flag.to_numpy() == 1].astype(str))
    if (levels == RARE_LEVEL).mean() >= RARE_SHARE:
        flagged.discard(RARE_LEVEL)
    return sorted(flagged)
