"""EDA: the statistics of the sales as warehouse tables, and one offline HTML report.

One multi-asset: the report and each of its tables is an asset of its own, so the lineage,
the catalog and the API show every table with its schema and row count. They are computed
together and published together (staged, then swapped in one DuckDB transaction), so a failed
run leaves the previous run's tables rather than a mix of two runs. The headline findings
also go into the report's metadata, so the Dagster UI shows them (and plots the numbers
across runs) without opening the report.
"""

from collections.abc import Iterator

import dagster as dg

from housing_assets import settings
from housing_assets.assets.ingestion import RAW_KEY, raw_sales
from housing_assets.lib.analysis.charts import build_charts, chart_rows
from housing_assets.lib.analysis.eda import (
    EDA_TABLES,
    MissingCounts,
    importance_pids,
    run_eda,
    skipped_table,
    warehouse_tables,
)
from housing_assets.lib.analysis.report import (
    REPORT_NAME,
    build_report_html,
    findings_markdown,
    write_report,
)
from housing_assets.lib.data.columns import (
    CATEGORICAL_COLUMNS,
    DERIVED_FEATURES,
    NUMERIC_FEATURES,
    TARGET,
)
from housing_assets.lib.data.features import house_features
from housing_assets.metadata import column_schema, markdown_table
from housing_assets.resources import Warehouse

REPORT_KEY = dg.AssetKey("eda_report")
# The tables the EDA reads, through the warehouse resource: deps, not inputs, since a
# multi_asset's spec deps cannot carry the columns to read.
EDA_DEPS = [RAW_KEY.path[-1], "cleaned_housing", "encoded_housing"]
# The cleaned columns the analysis reads: not the normalised copies.
ANALYSED_COLUMNS = ["PID", TARGET, *NUMERIC_FEATURES, *CATEGORICAL_COLUMNS, *DERIVED_FEATURES]
EDA_SPECS = [
    dg.AssetSpec(
        REPORT_KEY,
        description="Correlations, associations, bands, encoding and feature importance, "
        "with an HTML report.",
        group_name="data_pipeline",
        kinds={"pandas", "plotly", "html"},
        deps=EDA_DEPS,
    ),
    *(
        dg.AssetSpec(
            name,
            description=description,
            group_name="data_pipeline",
            kinds={"pandas", "duckdb"},
            deps=[REPORT_KEY],
        )
        for name, description in EDA_TABLES.items()
    ),
]


@dg.multi_asset(
    name="eda_report",
    specs=EDA_SPECS,
)
def eda_report(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult]:
    """The EDA report and its warehouse tables, computed and published together.

    It reads from the warehouse only what it analyses: the cleaned table without its
    normalised copies, the encoded table, and of the raw table the gaps of each column (which
    the warehouse counts) and the rows of the importance sample, whose features are made
    from those rows alone.
    """
    raw = MissingCounts(*warehouse.missing_counts(RAW_KEY.path[-1]))
    cleaned_housing = warehouse.read("cleaned_housing", ANALYSED_COLUMNS)
    encoded_housing = warehouse.read("encoded_housing")
    pids = importance_pids(cleaned_housing)
    features = house_features(raw_sales(warehouse, pids)).set_axis(pids.index)
    result = run_eda(raw, cleaned_housing, encoded_housing, features)
    charts = build_charts(cleaned_housing, result)
    tables = warehouse_tables(result)
    warehouse.publish(tables)
    report = write_report(
        build_report_html(result, charts), settings.reports_dir() / REPORT_NAME, len(charts)
    )
    top = result.target_correlations.iloc[0]
    importance = result.importance
    context.log.info(
        f"Correlations of {len(result.target_correlations)} numeric features with the price; "
        f"strongest: {top['feature']} (Pearson {top['pearson']:.3f})"
    )
    context.log.info(
        f"Associations: {len(result.eta)} eta and {len(result.cramers_v)} Cramer's V pairs"
    )
    context.log.info(
        f"Feature importance of {len(importance.table)} features on {importance.training_rows} "
        f"training rows; rank agreement (Spearman) {importance.rank_agreement:.3f}"
    )
    context.log.info(f"Skipped columns: {[tuple(s) for s in result.skipped] or 'none'}")
    context.log.info(f"Wrote {sorted(tables)} to schema {warehouse.warehouse_schema}")
    context.log.info(
        f"Report: {report.path} ({report.n_bytes:,} bytes, {report.chart_count} charts)"
    )
    yield dg.MaterializeResult(
        asset_key=REPORT_KEY,
        metadata={
            "report_path": dg.MetadataValue.path(str(report.path)),
            "findings": dg.MetadataValue.md(findings_markdown(result)),
            "top_feature_by_pearson": str(top["feature"]),
            "top_pearson_r": float(top["pearson"]),
            "rank_agreement_spearman": float(importance.rank_agreement),
            "importance_holdout_r2": float(importance.holdout_r2),
            "importance_training_rows": importance.training_rows,
            "chart_count": report.chart_count,
            "chart_sample_rows": len(chart_rows(cleaned_housing)),
            "html_size_bytes": report.n_bytes,
            "rows_analysed": result.rows,
            "association_rows": result.association_rows,
            "skipped_column_count": len(result.skipped),
            "skipped_columns": markdown_table(skipped_table(result.skipped), index=False),
            "tables_written": dg.MetadataValue.json(
                [warehouse.table_name(name) for name in tables]
            ),
        },
    )
    for name, table in tables.items():
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "dagster/row_count": len(table),
                "dagster/column_schema": column_schema(table),
                "dagster/table_name": warehouse.table_name(name),
                "preview": markdown_table(table.head(5), index=False),
            },
        )
