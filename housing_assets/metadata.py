"""Helpers that turn DataFrames into the metadata the Dagster UI renders."""

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 5


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()
        ]
    )


def markdown_table(frame: pd.DataFrame, index: bool = True) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=index))


def table_metadata(frame: pd.DataFrame) -> dict:
    """Column count and a preview, for a table's materialisation.

    The warehouse IO manager adds `dagster/row_count` and `dagster/column_schema` itself, from
    the frame it writes (resources.py), so they are not repeated here.
    """
    return {
        "column_count": frame.shape[1],
        "preview": markdown_table(frame.head(PREVIEW_ROWS).iloc[:, :12], index=False),
    }
