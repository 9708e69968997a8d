"""The EDA report: one self-contained HTML file, and the Markdown summary of its findings.

The file must open offline, years later, from an e-mail attachment or a CI artifact, so
nothing is fetched: plotly.js is inlined once in the page head (a few MB) and every
figure is a bare <div> plus the call that draws it. Inlining the bundle per figure, plotly's
default for `to_html`, would make the file ten times larger. The file is written to a
temporary name in the same directory and then renamed, so a reader never sees half a report.
"""

import html
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import plotly.io as pio
import plotly.offline

from housing_assets.lib.analysis.charts import Chart
from housing_assets.lib.analysis.eda import TOP_N, EdaResult, skipped_table
from housing_assets.lib.data.columns import TARGET

REPORT_NAME = "eda_report.html"
SUMMARY_ROWS = 5
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
section { margin: 2.5rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
p.explain { color: #444; }
"""


class ReportFile(NamedTuple):
    path: Path
    n_bytes: int
    chart_count: int


def table_html(frame: pd.DataFrame, digits: int = 3) -> str:
    if frame.empty:
        return "<p>None.</p>"
    return frame.to_html(index=False, float_format=lambda v: f"{v:,.{digits}f}", border=0)


def chart_section(chart: Chart, number: int) -> str:
    figure = pio.to_html(
        chart.figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{number}-plot",
        config=PLOTLY_CONFIG,
    )
    return (
        f'<section class="chart" id="chart-{number}">\n'
        f"<h2>{number}. {html.escape(chart.title)}</h2>\n"
        f'<p class="explain">{html.escape(chart.description)}</p>\n{figure}\n</section>'
    )


def top_features(result: EdaResult, n: int = SUMMARY_ROWS) -> pd.DataFrame:
    """The n most important features by each method, side by side."""
    table = result.importance.table
    n = min(n, len(table))
    return pd.DataFrame(
        {
            "rank": range(1, n + 1),
            "by mutual information": table.nsmallest(n, "mi_rank")["feature"].to_numpy(),
            "by permutation importance": table.nsmallest(n, "permutation_rank")[
                "feature"
            ].to_numpy(),
        }
    )


def tables_section(result: EdaResult) -> str:
    importance = result.importance
    associations = result.top_associations.drop(columns="measure")
    parts = {
        "Correlation with sale price (strongest first)": table_html(
            result.target_correlations.head(15)
        ),
        f"Strongest associations involving categorical features (top {TOP_N} per kind)": (
            table_html(associations)
        ),
        "Sales and median price per band": table_html(result.bins, digits=2),
        "How each column was encoded": table_html(result.encoding),
        "Feature importance (training rows only)": (
            f"<p>Rank agreement of the two methods (Spearman): "
            f"{importance.rank_agreement:.3f}. Permutation model R² on log price, held-out "
            f"part of the training rows: {importance.holdout_r2:.3f}; "
            f"{importance.training_rows:,} training rows.</p>"
            + table_html(importance.table.head(25), digits=4)
        ),
        "Columns skipped, and why": table_html(skipped_table(result.skipped)),
    }
    return "\n".join(
        f'<section class="table"><h2>{html.escape(title)}</h2>\n{body}</section>'
        for title, body in parts.items()
    )


def html_page(title: str, body: str) -> str:
    """A self-contained page: the style and plotly.js once in <head>, then `body`."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body>
</html>
"""


def chart_sections(charts: list[Chart]) -> str:
    return "\n".join(chart_section(chart, i) for i, chart in enumerate(charts, start=1))


def build_report_html(result: EdaResult, charts: list[Chart]) -> str:
    """The whole page: plotly.js once in <head>, the tables, then one section per chart."""
    return html_page(
        "Ames Housing: exploratory data analysis",
        f"""<p>{result.rows:,} sales after cleaning; {len(charts)} charts. Every chart is interactive:
hover for values, drag to zoom, double-click to reset.</p>
{tables_section(result)}
{chart_sections(charts)}""",
    )


def write_report(page: str, path: Path, chart_count: int) -> ReportFile:
    """Write the page under a temporary name in the same directory, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = page.encode("utf-8")
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ReportFile(path, len(data), chart_count)


def _markdown_list(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3f")


def _sales_analysed(result: EdaResult) -> str:
    if result.association_rows == result.rows:
        return f"{result.rows:,} sales"
    return f"a fixed random sample of {result.association_rows:,} of {result.rows:,} sales"


def findings_markdown(result: EdaResult, n: int = SUMMARY_ROWS) -> str:
    """The headline findings, for the Dagster UI: top correlations, associations, features."""
    correlations = result.target_correlations.head(n)[["feature", "pearson", "spearman"]]
    associations = result.top_associations
    eta = associations[associations["feature_b"] == TARGET].head(n)
    eta = eta[["feature_a", "value"]].rename(columns={"feature_a": "feature", "value": "eta"})
    importance = result.importance
    skipped = ", ".join(f"{s.column} ({s.analysis}: {s.reason})" for s in result.skipped) or "none"
    return "\n\n".join(
        [
            f"**Top correlations with sale price** ({_sales_analysed(result)})",
            _markdown_list(correlations),
            "**Top categorical features by correlation ratio (eta) with sale price**",
            _markdown_list(eta),
            f"**Top features** (training rows only; rank agreement Spearman "
            f"{importance.rank_agreement:.2f})",
            _markdown_list(top_features(result, n)),
            f"**Skipped columns:** {skipped}",
        ]
    )
