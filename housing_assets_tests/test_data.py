"""The shipped dataset: shape, schema, checksum and known facts."""

import hashlib
import re

import pandas as pd

from housing_assets.lib.data.columns import AMES_COLUMNS


def test_shape_and_columns(ames_csv):
    frame = pd.read_csv(ames_csv)
    assert frame.shape == (2930, 82)
    assert tuple(frame.columns) == AMES_COLUMNS
    assert frame["Order"].tolist() == list(range(1, 2931))


def test_known_facts(ames_csv):
    frame = pd.read_csv(ames_csv)
    assert frame["Lot Frontage"].isna().sum() == 490
    assert frame["Garage Yr Blt"].isna().sum() == 159
    assert frame["Alley"].isna().sum() == 2732
    assert frame["PID"].is_unique
    assert frame["SalePrice"].min() == 12789
    assert frame["SalePrice"].max() == 755000
    assert frame.loc[0, "PID"] == 526301100


def test_checksum_matches_data_readme(ames_csv):
    readme = (ames_csv.parent / "README.md").read_text()
    documented = re.search(r"SHA-256:\*\* `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256(ames_csv.read_bytes()).hexdigest() == documented
