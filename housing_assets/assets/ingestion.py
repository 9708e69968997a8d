"""Ingestion: the raw sales, read from the configured source and validated before storing."""

from collections.abc import Iterator

import dagster as dg

from housing_assets.checks import RAW_RULES, audited_output, data_check_results, data_check_specs
from housing_assets.metadata import table_metadata
from housing_assets.resources import HousingSource

RAW_KEY = dg.AssetKey("raw_housing")
RAW_CHECKS = data_check_specs(RAW_KEY, RAW_RULES)


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"}, check_specs=RAW_CHECKS)
def raw_housing(context: dg.AssetExecutionContext, source: HousingSource) -> Iterator:
    """Ames Housing sales as read from the source; published only if its blocking checks pass."""
    raw = source.load()
    context.log.info(
        f"Read {len(raw.frame)} rows x {raw.frame.shape[1]} columns ({raw.n_bytes:,} bytes, "
        f"sha256 {raw.sha256[:12]}) from {source.location}"
    )
    output = dg.Output(
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
    results = data_check_results(RAW_KEY, RAW_RULES, raw.frame)
    yield from audited_output(RAW_KEY, RAW_CHECKS, results, output)
