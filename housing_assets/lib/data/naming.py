"""The Kaggle copy of this data, read as De Cock's file.

Most people have Kaggle's "House Prices: Advanced Regression Techniques" (`train.csv`, 1,460
sales; `test.csv`, 1,459 houses without `SalePrice`), a subset of the same Ames data. Its
header drops the spaces and slashes of De Cock's names (`GrLivArea`, `YearRemodAdd`,
`1stFlrSF`), has `Id` instead of `PID` and no `Order`, and it writes every empty cell as the
text `NA` (an absent alley, basement or pool as well as a genuine gap), where De Cock's file
leaves the cell empty. A header in that naming is mapped onto De Cock's columns: each name
matches the De Cock name it equals without spaces and slashes, case aside; `Id` becomes the
house id (`PID`), `Order` the row's position, and `NA` an empty cell, which cleaning then reads
as De Cock's (absent feature or gap). The other levels are the same codes in both.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import AMES_COLUMNS

DE_COCK = "De Cock (AmesHousing.csv)"
KAGGLE = "Kaggle (House Prices: Advanced Regression Techniques)"
KAGGLE_ID = "Id"
# The text a Kaggle file writes for an empty cell.
KAGGLE_EMPTY = "NA"


def squeezed(name: str) -> str:
    return name.replace(" ", "").replace("/", "").lower()


DE_COCK_BY_SQUEEZED = {squeezed(c): c for c in AMES_COLUMNS}


class Naming(NamedTuple):
    frame: pd.DataFrame  # with De Cock's column names
    naming: str  # DE_COCK or KAGGLE
    unmapped: tuple[str, ...]  # the file's columns that match no De Cock column


def is_kaggle_header(columns) -> bool:
    """Kaggle's header: an `Id` and no `PID`, and names without De Cock's spaces."""
    names = set(columns)
    return KAGGLE_ID in names and "PID" not in names and "Gr Liv Area" not in names


def de_cock_names(frame: pd.DataFrame) -> Naming:
    """The frame with De Cock's names: as it is, or mapped from Kaggle's naming (its `NA`
    cells empty; a frame of text, whose numbers are parsed afterwards)."""
    if not is_kaggle_header(frame.columns):
        return Naming(frame, DE_COCK, ())
    renames, unmapped = {KAGGLE_ID: "PID"}, []
    for column in frame.columns:
        if column == KAGGLE_ID:
            continue
        target = DE_COCK_BY_SQUEEZED.get(squeezed(column))
        if target is None or target in ("PID", "Order"):
            unmapped.append(column)
        else:
            renames[column] = target
    mapped = frame.rename(columns=renames)
    mapped = mapped.drop(columns=unmapped)
    text = [c for c in mapped.columns if mapped[c].dtype == object]
    mapped[text] = mapped[text].mask(mapped[text].apply(lambda v: v.str.strip()) == KAGGLE_EMPTY)
    if "Order" not in mapped.columns:
        mapped.insert(0, "Order", np.arange(1, len(mapped) + 1))
    return Naming(mapped, KAGGLE, tuple(unmapped))
