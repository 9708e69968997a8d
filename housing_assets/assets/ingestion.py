"""Ingestion: the raw sales, read from the configured source and validated before storing.

Below the asset are the partial reads of its published table that later steps use, so a step
that needs some of the sales (the test split, the training split, a sample) reads only their
rows.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from housing_assets.checks import RAW_RULES, audited_output, data_check_results, data_check_specs
from housing_assets.lib.data.cleaning import sales_in_order
from housing_assets.lib.data.ingest import MissingColumnsError
from housing_assets.lib.ml.split import TrainingSales, pids_by_split, sale_features
from housing_assets.metadata import table_metadata
from housing_assets.resources import HousingSource, Warehouse

RAW_KEY = dg.AssetKey("raw_housing")
RAW_CHECKS = data_check_specs(RAW_KEY, RAW_RULES)
COLUMN_RULES = [rule for rule in RAW_RULES if rule.name == "required_columns_present"]


@dg.asset(group_name="data_pipeline", kinds={"pandas", "duckdb"}, check_specs=RAW_CHECKS)
def raw_housing(context: dg.AssetExecutionContext, source: HousingSource) -> Iterator:
    """Ames Housing sales as read from the source; published only if its blocking checks pass."""
    try:
        raw = source.load()
    except MissingColumnsError as error:
        # A file without the columns cannot be judged by the other rules; the columns rule's
        # failed result is stored, like any audit's, before the step fails with the cause.
        header = pd.DataFrame(columns=list(error.columns))
        yield from data_check_results(RAW_KEY, COLUMN_RULES, header)
        raise
    context.log.info(
        f"Read {len(raw.frame)} rows x {raw.frame.shape[1]} columns ({raw.n_bytes:,} bytes, "
        f"sha256 {raw.sha256[:12]}) from {source.location}, in {raw.naming} naming"
        + (
            f"; ignored, matching no De Cock column: {', '.join(raw.unmapped)}"
            if raw.unmapped
            else ""
        )
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
            "source_naming": raw.naming,
            "source_columns_ignored": ", ".join(raw.unmapped) or "none",
        },
    )
    results = data_check_results(RAW_KEY, RAW_RULES, raw.frame)
    yield from audited_output(RAW_KEY, RAW_CHECKS, results, output)


# Later steps that need some of the sales read only their rows of the published raw table (a
# whole raw table is the largest frame of a run).


def raw_sales(warehouse: Warehouse, pids) -> pd.DataFrame:
    """The raw rows of these sales (one per PID, as `sales` keeps), in the order of `pids`."""
    return sales_in_order(warehouse.read_rows(RAW_KEY.path[-1], "PID", pids), pids)


def published_split_pids(warehouse: Warehouse) -> tuple[pd.Series, pd.Series]:
    """The parcel ids of the training and the test split's sales, each in the split's order."""
    return pids_by_split(warehouse.read(RAW_KEY.path[-1], ["PID"])["PID"])


def split_test_pids(warehouse: Warehouse) -> pd.Series:
    """The parcel ids of the test split's sales, in the split's order."""
    return published_split_pids(warehouse)[1]


def split_test_houses(warehouse: Warehouse) -> pd.DataFrame:
    """The raw rows of the test split's houses, in the split's order."""
    return raw_sales(warehouse, split_test_pids(warehouse))


def training_sales(warehouse: Warehouse) -> TrainingSales:
    """The training split's sales as model features, price and PID, in the split's order:
    `split_sales`' training side, read without the test split's rows."""
    return TrainingSales(*sale_features(raw_sales(warehouse, published_split_pids(warehouse)[0])))
