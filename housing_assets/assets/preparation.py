"""Preparation: the cleaned table (types, NA handling, imputation, z-scores) and the encoded one.

The cleaned table's quality checks and its drift against the reference run inside the asset,
on the frame already in memory, rather than as separate checks that would read it back.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from housing_assets.checks import (
    CLEANED_RULES,
    audited_output,
    data_check_results,
    data_check_specs,
    drift_check_result,
    drift_check_spec,
)
from housing_assets.lib.data.cleaning import (
    clean_housing,
    dtype_table,
    missing_value_table,
    summary_statistics,
)
from housing_assets.lib.data.columns import AMES_COLUMNS, NUMERIC_FEATURES
from housing_assets.lib.data.drift import DRIFT_FEATURES, drift_table
from housing_assets.lib.data.encoding import encode_housing, encoding_summary
from housing_assets.metadata import markdown_table, table_metadata
from housing_assets.resources import Warehouse

CLEANED_KEY = dg.AssetKey("cleaned_housing")
CLEANED_CHECKS = [*data_check_specs(CLEANED_KEY, CLEANED_RULES), drift_check_spec(CLEANED_KEY)]
DRIFT_REFERENCE_TABLE = "drift_reference"


def read_drift_reference(
    context: dg.AssetExecutionContext, warehouse: Warehouse, cleaned: pd.DataFrame
) -> pd.DataFrame | None:
    """The drift table against the pinned reference, or None before one is pinned.

    The reference is the `drift_reference` asset, a snapshot of an earlier accepted cleaned
    table; it is read here on the side (declaring it as an input would make a cycle).
    """
    reference = warehouse.read_if_exists(DRIFT_REFERENCE_TABLE)
    if reference is None:
        context.log.info("No drift reference yet: drift_reference pins this table once accepted")
        return None
    table = drift_table(reference, cleaned)
    context.log.info(f"Drift against the reference ({len(reference)} rows):\n{table.to_string()}")
    return table


@dg.asset(
    group_name="data_pipeline",
    kinds={"pandas", "duckdb"},
    check_specs=CLEANED_CHECKS,
)
def cleaned_housing(
    context: dg.AssetExecutionContext, raw_housing: pd.DataFrame, warehouse: Warehouse
) -> Iterator:
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
    checks = data_check_results(CLEANED_KEY, CLEANED_RULES, cleaned)
    drift = read_drift_reference(context, warehouse, cleaned)
    drift_metadata = (
        {}
        if drift is None
        else {f"drift_psi/{row.feature}": float(row.psi) for row in drift.itertuples()}
        | {"drift_max_psi": float(drift["psi"].max())}
    )
    output = dg.Output(
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
            **drift_metadata,
        },
    )
    results = [*checks, drift_check_result(CLEANED_KEY, drift)]
    yield from audited_output(CLEANED_KEY, CLEANED_CHECKS, results, output)


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"})
def encoded_housing(
    context: dg.AssetExecutionContext, cleaned_housing: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Ordinal ranks, one-hot nominal categories (rare levels grouped) and value bands."""
    result = encode_housing(cleaned_housing)
    summary = encoding_summary(cleaned_housing, result.frame)
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


class DriftReferenceConfig(dg.Config):
    repin: bool = Field(
        default=False,
        description="Replace the pinned reference with the current cleaned table's key "
        "features (the pin_drift_reference job sets this).",
    )


@dg.asset(
    group_name="data_pipeline",
    kinds={"pandas", "duckdb"},
    deps=[CLEANED_KEY],
    output_required=False,
)
def drift_reference(
    context: dg.AssetExecutionContext, config: DriftReferenceConfig, warehouse: Warehouse
) -> Iterator[dg.Output[pd.DataFrame]]:
    """Key features of an accepted cleaned table, pinned: what cleaned_housing's drift is
    measured against. Pinned on the first run; replaced only when re-pinned on request."""
    # The published cleaned table is read only when pinning: almost every run keeps the pin,
    # and an input would load the table each time.
    pinned = warehouse.exists(DRIFT_REFERENCE_TABLE)
    if pinned and not config.repin:
        context.log.info("The drift reference stays pinned (launch pin_drift_reference to re-pin)")
        return
    cleaned = warehouse.read(CLEANED_KEY.path[-1], list(DRIFT_FEATURES))
    context.log.info(
        f"{'Re-pinned' if pinned else 'Pinned'} the drift reference: {len(cleaned)} rows "
        f"of {list(DRIFT_FEATURES)}"
    )
    yield dg.Output(cleaned, metadata={"repinned": pinned})
