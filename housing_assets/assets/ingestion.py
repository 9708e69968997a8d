"""Ingestion: the raw sales, read from the configured source and validated before storing."""

import dagster as dg
import pandas as pd

from housing_assets.metadata import table_metadata
from housing_assets.resources import HousingSource


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"})
def raw_housing(
    context: dg.AssetExecutionContext, source: HousingSource
) -> dg.Output[pd.DataFrame]:
    """Ames Housing sales as read from the source, validated (columns, numbers, prices)."""
    raw = source.load()
    context.log.info(
        f"Read {len(raw.frame)} rows x {raw.frame.shape[1]} columns ({raw.n_bytes:,} bytes, "
        f"sha256 {raw.sha256[:12]}) from {source.location}"
    )
    return dg.Output(
        raw.frame,
        # The bytes' hash is the data version: unchanged bytes mean unchanged downstream data.
        data_version=dg.DataVersion(raw.sha256),
        metadata={
            **table_metadata(raw.frame),
            "source": source.location,
            "sha256": raw.sha256,
            "source_bytes": raw.n_bytes,
        },
    )
