"""Encoding and binning on hand-made frames, with exact expected outputs."""

import pandas as pd
import pytest

from housing_assets.lib.data.columns import ORDINAL_SCALES
from housing_assets.lib.data.encoding import (
    EncodingError,
    add_bands,
    encode_housing,
    group_rare_levels,
    map_ordinals,
)


def _ordinal_frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {column: [scale[-1], scale[0]] for column, scale in ORDINAL_SCALES.items()}
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_map_ordinals_exact_ranks():
    mapped = map_ordinals(
        _ordinal_frame(**{"Kitchen Qual": ["Ex", "TA"], "Garage Finish": ["RFn", "None"]})
    )
    assert mapped["Kitchen Qual"].tolist() == [5, 3]
    assert mapped["Garage Finish"].tolist() == [2, 0]
    assert mapped["Functional"].tolist() == [7, 0]


def test_map_ordinals_unknown_level_names_column():
    with pytest.raises(EncodingError, match=r"Column 'Kitchen Qual' has level\(s\) \['Superb'\]"):
        map_ordinals(_ordinal_frame(**{"Kitchen Qual": ["Superb", "TA"]}))


def test_group_rare_levels():
    values = pd.Series(["a"] * 97 + ["b", "c", "d"])
    grouped, rare = group_rare_levels(values, min_share=0.02)
    assert rare == ["b", "c", "d"]
    assert grouped.value_counts().to_dict() == {"a": 97, "Other": 3}
    # a single rare level is left as it is
    single, rare_single = group_rare_levels(pd.Series(["a"] * 99 + ["b"]), min_share=0.02)
    assert rare_single == [] and single.tolist()[-1] == "b"


def test_bands_are_left_closed():
    frame = pd.DataFrame(
        {
            "Gr Liv Area": [999, 1000, 2500],
            "Year Built": [1939, 1940, 2000],
            "SalePrice": [99_999, 100_000, 300_000],
        }
    )
    bands = add_bands(frame)
    assert bands["Gr Liv Area band"].tolist() == [
        "under 1,000 sq ft",
        "1,000-1,499 sq ft",
        "2,500 sq ft and more",
    ]
    assert bands["Year Built band"].tolist() == ["before 1940", "1940-1969", "2000 and later"]
    assert bands["SalePrice band"].tolist() == ["under $100k", "$100k-$149k", "$300k and more"]


def test_encode_real_data(cleaned_frame):
    result = encode_housing(cleaned_frame)
    frame = result.frame
    assert len(frame) == 2930
    assert set(result.ordinal_mapped) == set(ORDINAL_SCALES)
    assert result.one_hot["Neighborhood"] == 22
    assert "Neighborhood=Other" in frame.columns
    assert set(result.rare_grouped["Neighborhood"]) >= {"Blueste", "Greens", "Landmrk"}
    one_hot = [c for c in frame.columns if c.startswith("Neighborhood=")]
    assert (frame[one_hot].sum(axis=1) == 1).all()
    assert frame["Gr Liv Area band"].value_counts().sum() == 2930
    assert int(frame.isna().sum().sum()) == 0
