"""Preparation: the cleaned table (types, NA handling, imputation, z-scores) and the encoded one."""

import dagster as dg
import pandas as pd

from housing_assets.lib.cleaning import (
    clean_housing,
    dtype_table,
    missing_value_table,
    summary_statistics,
)
from housing_assets.lib.columns import AMES_COLUMNS, NUMERIC_FEATURES
from housing_assets.lib.encoding import encode_housing, encoding_summary
from housing_assets.metadata import markdown_table, table_metadata


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"})
def cleaned_housing(
    context: dg.AssetExecutionContext, raw_housing: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Sales with fixed dtypes, domain-correct NA levels, imputed gaps and z-score copies."""
    result = clean_housing(raw_housing)
    cleaned = result.frame
    missing = missing_value_table(raw_housing, cleaned[list(AMES_COLUMNS)])
    dtypes = dtype_table(raw_housing, cleaned[list(AMES_COLUMNS)])
    changed_dtypes = dtypes[dtypes["dtype before"] != dtypes["dtype after"]]
    stats = summary_statistics(cleaned, NUMERIC_FEATURES)
    context.log.info(
        f"Rows in {len(raw_housing)}, out {len(cleaned)}; duplicate PIDs dropped: "
        f"{result.duplicates_dropped}"
    )
    context.log.info(f"Filled as 'house has none' (level 'None' or 0): {result.filled_as_absent}")
    context.log.info(f"Imputed (neighbourhood median, median or mode): {result.imputed}")
    context.log.info(f"Missing values per column, before -> after:\n{missing.to_string()}")
    context.log.info(f"Data types changed:\n{changed_dtypes.to_string()}")
    context.log.info(f"Summary statistics:\n{stats.to_string()}")
    return dg.Output(
        cleaned,
        metadata={
            **table_metadata(cleaned),
            "rows_in": len(raw_housing),
            "duplicates_dropped": result.duplicates_dropped,
            "values_filled_as_absent": sum(result.filled_as_absent.values()),
            "values_imputed": sum(result.imputed.values()),
            "lot_frontage_imputed": result.imputed.get("Lot Frontage", 0),
            "missing_values_remaining": int(cleaned.isna().sum().sum()),
            "normalisation": "z-score copies '<column> z-score' = (x - mean) / population std",
            "missing_values": markdown_table(missing),
            "summary_statistics": markdown_table(stats),
            "data_types": markdown_table(changed_dtypes),
        },
    )


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"})
def encoded_housing(
    context: dg.AssetExecutionContext, cleaned_housing: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Ordinal ranks, one-hot nominal categories (rare levels grouped) and value bands."""
    result = encode_housing(cleaned_housing)
    summary = encoding_summary(result)
    context.log.info(
        f"Rows in {len(cleaned_housing)}, out {len(result.frame)}, columns {result.frame.shape[1]}"
    )
    context.log.info(
        f"Ordinal-mapped {len(result.ordinal_mapped)} columns: {result.ordinal_mapped}"
    )
    context.log.info(f"One-hot encoded {len(result.one_hot)} columns: {result.one_hot}")
    context.log.info(f"Rare levels grouped as 'Other': {result.rare_grouped}")
    context.log.info(f"Binned: {result.binned}")
    return dg.Output(
        result.frame,
        metadata={
            **table_metadata(result.frame),
            "ordinal_mapped_columns": len(result.ordinal_mapped),
            "one_hot_columns": sum(result.one_hot.values()),
            "rare_level_groups": len(result.rare_grouped),
            "binned_columns": dg.MetadataValue.json(result.binned),
            "encoding": markdown_table(summary, index=False),
        },
    )
