"""The ratio study's page: its table beside IAAO's limits, and where the ratios stray.

One self-contained HTML file like the EDA report (`lib.analysis.report`): the ratio of each
test-split sale against its price for every model studied, and COD by group for the champion.
"""

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from housing_assets.lib.analysis.charts import PRICE_AXIS, Chart, _layout, chart_rows
from housing_assets.lib.analysis.report import chart_sections, html_page, table_html
from housing_assets.lib.ml.ratio_study import (
    ARMS_LENGTH_CONDITIONS,
    IAAO_LIMITS,
    TEST_SCOPE,
    TRIM_IQR_FACTOR,
    all_sales,
    coverage_tolerance,
)

RATIO_REPORT_NAME = "ratio_study.html"
CHAMPION = "champion"


def ratio_against_price(scored: pd.DataFrame) -> Chart:
    """Each test-split sale's ratio (estimate / price) against its price, one trace a model
    (above CHART_MAX_ROWS sales, a fixed sample of them)."""
    title = "Ratio of estimate to sale price, test split"
    figure = go.Figure()
    tested = scored[scored["scope"] == TEST_SCOPE]
    for model, sales in tested.groupby("model", sort=True):
        sales = chart_rows(sales)
        price = sales["sale_price"].to_numpy(float)
        figure.add_trace(
            go.Scatter(
                x=price,
                y=sales["estimate"].to_numpy(float) / price,
                mode="markers",
                name=str(model),
                marker={"size": 4, "opacity": 0.6},
                visible=True if model == CHAMPION else "legendonly",
            )
        )
    median = IAAO_LIMITS["median_ratio"]
    for level, dash in ((1.0, "solid"), (median.low, "dot"), (median.high, "dot")):
        figure.add_hline(y=level, line_dash=dash, line_color="#888", line_width=1)
    figure.update_xaxes(type="log")
    return Chart(
        title,
        "A point above 1 is a house valued above its price. A level band means no price "
        "bias; ratios falling to the right are cheaper houses valued high relative to dearer "
        "ones (a negative PRB). The dotted lines are IAAO's limits on the median ratio. "
        "Click a model in the legend to show it.",
        _layout(figure, title, f"{PRICE_AXIS}, log scale", "Estimate / sale price", 520),
    )


def cod_by_group(study: pd.DataFrame) -> Chart:
    """The champion's COD per neighbourhood and price quartile on the test split."""
    title = "Coefficient of dispersion by group, champion, test split"
    study = all_sales(study)
    rows = study[
        (study["scope"] == TEST_SCOPE)
        & (study["model"] == CHAMPION)
        & (study["group_kind"] != "overall")
    ].sort_values(["group_kind", "cod"], kind="stable")
    figure = go.Figure(
        go.Bar(
            x=(rows["group_kind"] + ": " + rows["group"]).tolist(),
            y=rows["cod"].to_numpy(float),
            text=[f"{n} sales" for n in rows["sales"]],
        )
    )
    figure.add_hline(y=IAAO_LIMITS["cod"].high, line_dash="dot", line_color="#c00")
    return Chart(
        title,
        "How far the ratios spread within each neighbourhood with enough test sales and "
        "each quarter of the prices. The dotted line is IAAO's limit for residential "
        "property (15); under 10 is called excellent.",
        _layout(figure, title, "Group", "COD", 480),
    )


def coverage_by_group(study: pd.DataFrame) -> Chart:
    """The champion's range coverage per neighbourhood and price quartile on the test split,
    with the band a calibrated range stays in for a group of that size."""
    title = "Price range coverage by group, champion, test split"
    study = all_sales(study)
    rows = study[
        (study["scope"] == TEST_SCOPE)
        & (study["model"] == CHAMPION)
        & (study["group_kind"] != "overall")
    ].dropna(subset=["coverage"])
    rows = rows.sort_values(["group_kind", "coverage"], kind="stable")
    tolerance = [
        coverage_tolerance(level, n)
        for level, n in zip(rows["interval_level"], rows["sales"], strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=(rows["group_kind"] + ": " + rows["group"]).tolist(),
            y=100 * rows["coverage"].to_numpy(float),
            error_y={"type": "data", "array": [100 * t for t in tolerance], "visible": True},
            text=[f"{n} sales" for n in rows["sales"]],
        )
    )
    if len(rows):
        figure.add_hline(y=100 * float(rows["interval_level"].iloc[0]), line_dash="dot")
        figure.update_yaxes(range=[50, 100])
    return Chart(
        title,
        "The share of each group's sales inside their price range. The dotted line is the "
        "ranges' level; each bar's whisker is how far a calibrated range may stray in a group "
        "of that size (3 points, or more for a small group) before the check warns.",
        _layout(figure, title, "Group", "Coverage (%)", 480),
    )


def limits_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "statistic": list(IAAO_LIMITS),
            "IAAO limit": [limit.describe() for limit in IAAO_LIMITS.values()],
        }
    )


def build_ratio_report_html(study: pd.DataFrame, charts: list[Chart]) -> str:
    overall = study[study["group_kind"] == "overall"].drop(columns=["group_kind", "group"])
    overall = overall.replace([np.inf, -np.inf], np.nan)
    return html_page(
        "Ames Housing: ratio study of the price models",
        f"""<p>Ratios are estimate / sale price of sold houses. The champion and every model
family on the test split and on the backtest year, judged by the IAAO Standard on Ratio
Studies. Each is studied on two samples: every sale (<code>all</code>, which the checks and the
charts judge), and the sample an assessor's study uses (<code>validated</code>): the
arm's-length sales ({", ".join(ARMS_LENGTH_CONDITIONS)}), less the ratios outside their
quartiles &plusmn; {TRIM_IQR_FACTOR:g} x the interquartile range.</p>
<section class="table"><h2>{html.escape("IAAO limits (residential property)")}</h2>
{table_html(limits_table())}</section>
<section class="table"><h2>All sales, by scope and model</h2>
{table_html(overall)}</section>
{chart_sections(charts)}""",
    )
