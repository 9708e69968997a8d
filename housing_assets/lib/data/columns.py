"""The Ames Housing schema and the domain knowledge attached to it (De Cock, 2011).

One place for column lists, so ingestion, cleaning, encoding and the models agree on what
each column is. The NA rules follow the data documentation: in many categorical columns NA
means "the house has none", which is a level of its own and not a missing value.
"""

from typing import NamedTuple

ID_COLUMNS = ("Order", "PID")
TARGET = "SalePrice"

# Every column of the original file, in file order.
AMES_COLUMNS = (
    "Order", "PID", "MS SubClass", "MS Zoning", "Lot Frontage", "Lot Area", "Street", "Alley",
    "Lot Shape", "Land Contour", "Utilities", "Lot Config", "Land Slope", "Neighborhood",
    "Condition 1", "Condition 2", "Bldg Type", "House Style", "Overall Qual", "Overall Cond",
    "Year Built", "Year Remod/Add", "Roof Style", "Roof Matl", "Exterior 1st", "Exterior 2nd",
    "Mas Vnr Type", "Mas Vnr Area", "Exter Qual", "Exter Cond", "Foundation", "Bsmt Qual",
    "Bsmt Cond", "Bsmt Exposure", "BsmtFin Type 1", "BsmtFin SF 1", "BsmtFin Type 2",
    "BsmtFin SF 2", "Bsmt Unf SF", "Total Bsmt SF", "Heating", "Heating QC", "Central Air",
    "Electrical", "1st Flr SF", "2nd Flr SF", "Low Qual Fin SF", "Gr Liv Area", "Bsmt Full Bath",
    "Bsmt Half Bath", "Full Bath", "Half Bath", "Bedroom AbvGr", "Kitchen AbvGr", "Kitchen Qual",
    "TotRms AbvGrd", "Functional", "Fireplaces", "Fireplace Qu", "Garage Type", "Garage Yr Blt",
    "Garage Finish", "Garage Cars", "Garage Area", "Garage Qual", "Garage Cond", "Paved Drive",
    "Wood Deck SF", "Open Porch SF", "Enclosed Porch", "3Ssn Porch", "Screen Porch", "Pool Area",
    "Pool QC", "Fence", "Misc Feature", "Misc Val", "Mo Sold", "Yr Sold", "Sale Type",
    "Sale Condition", "SalePrice",
)  # fmt: skip

# Columns that must parse as numbers. MS SubClass is numeric in the file but is a dwelling-type
# code, so cleaning turns it into a category.
NUMERIC_COLUMNS = (
    "Order", "PID", "MS SubClass", "Lot Frontage", "Lot Area", "Overall Qual", "Overall Cond",
    "Year Built", "Year Remod/Add", "Mas Vnr Area", "BsmtFin SF 1", "BsmtFin SF 2",
    "Bsmt Unf SF", "Total Bsmt SF", "1st Flr SF", "2nd Flr SF", "Low Qual Fin SF", "Gr Liv Area",
    "Bsmt Full Bath", "Bsmt Half Bath", "Full Bath", "Half Bath", "Bedroom AbvGr",
    "Kitchen AbvGr", "TotRms AbvGrd", "Fireplaces", "Garage Yr Blt", "Garage Cars",
    "Garage Area", "Wood Deck SF", "Open Porch SF", "Enclosed Porch", "3Ssn Porch",
    "Screen Porch", "Pool Area", "Misc Val", "Mo Sold", "Yr Sold", "SalePrice",
)  # fmt: skip
CODE_COLUMNS = ("MS SubClass",)
CATEGORICAL_COLUMNS = tuple(
    c for c in AMES_COLUMNS if c not in NUMERIC_COLUMNS or c in CODE_COLUMNS
)
NUMERIC_FEATURES = tuple(
    c for c in NUMERIC_COLUMNS if c not in (*ID_COLUMNS, TARGET, *CODE_COLUMNS)
)

# Features derived row by row in cleaning (no statistics learned from other rows).
DERIVED_FEATURES = (
    "Total SF", "Total Bathrooms", "House Age", "Years Since Remodel", "Total Porch SF",
    "Qual x Living Area", "Qual x Total SF",
)  # fmt: skip

AREA_COLUMNS = (
    "Lot Area", "Mas Vnr Area", "BsmtFin SF 1", "BsmtFin SF 2", "Bsmt Unf SF", "Total Bsmt SF",
    "1st Flr SF", "2nd Flr SF", "Low Qual Fin SF", "Gr Liv Area", "Garage Area", "Wood Deck SF",
    "Open Porch SF", "Enclosed Porch", "3Ssn Porch", "Screen Porch", "Pool Area",
)  # fmt: skip


class AbsentFeature(NamedTuple):
    """A house feature (basement, garage, ...) whose absence the data writes as NA.

    The feature is absent where `indicator` is NA and `presence` (a size or count) is NA or 0.
    Then its categorical columns get the level "None" and its numeric columns 0. Where the
    indicator is NA but the presence column says the feature exists, the value is genuinely
    missing and is imputed instead.
    """

    indicator: str
    presence: str | None
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]


NONE_LEVEL = "None"
ABSENT_FEATURES = (
    AbsentFeature(
        indicator="Bsmt Qual",
        presence="Total Bsmt SF",
        categorical=("Bsmt Qual", "Bsmt Cond", "Bsmt Exposure", "BsmtFin Type 1", "BsmtFin Type 2"),
        numeric=("BsmtFin SF 1", "BsmtFin SF 2", "Bsmt Unf SF", "Total Bsmt SF",
                 "Bsmt Full Bath", "Bsmt Half Bath"),
    ),
    AbsentFeature(
        indicator="Garage Type",
        presence="Garage Area",
        categorical=("Garage Type", "Garage Finish", "Garage Qual", "Garage Cond"),
        numeric=("Garage Cars", "Garage Area"),
    ),
    AbsentFeature("Mas Vnr Type", "Mas Vnr Area", ("Mas Vnr Type",), ("Mas Vnr Area",)),
    AbsentFeature("Fireplace Qu", "Fireplaces", ("Fireplace Qu",), ()),
    AbsentFeature("Pool QC", "Pool Area", ("Pool QC",), ()),
    AbsentFeature("Alley", None, ("Alley",), ()),
    AbsentFeature("Fence", None, ("Fence",), ()),
    AbsentFeature("Misc Feature", None, ("Misc Feature",), ()),
)  # fmt: skip

# Ordinal scales, worst to best. "None" (feature absent) ranks below every real level.
QUALITY_SCALE = ("None", "Po", "Fa", "TA", "Gd", "Ex")
ORDINAL_SCALES: dict[str, tuple[str, ...]] = {
    **{
        column: QUALITY_SCALE
        for column in (
            "Exter Qual", "Exter Cond", "Bsmt Qual", "Bsmt Cond", "Heating QC", "Kitchen Qual",
            "Fireplace Qu", "Garage Qual", "Garage Cond", "Pool QC",
        )
    },
    "Bsmt Exposure": ("None", "No", "Mn", "Av", "Gd"),
    "BsmtFin Type 1": ("None", "Unf", "LwQ", "Rec", "BLQ", "ALQ", "GLQ"),
    "BsmtFin Type 2": ("None", "Unf", "LwQ", "Rec", "BLQ", "ALQ", "GLQ"),
    "Garage Finish": ("None", "Unf", "RFn", "Fin"),
    "Functional": ("Sal", "Sev", "Maj2", "Maj1", "Mod", "Min2", "Min1", "Typ"),
    "Lot Shape": ("IR3", "IR2", "IR1", "Reg"),
    "Land Slope": ("Sev", "Mod", "Gtl"),
    "Paved Drive": ("N", "P", "Y"),
    "Central Air": ("N", "Y"),
}  # fmt: skip
NOMINAL_COLUMNS = tuple(c for c in CATEGORICAL_COLUMNS if c not in ORDINAL_SCALES)
