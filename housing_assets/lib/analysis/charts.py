"""The report's figures, built with plotly from the EDA tables and the sales themselves.

Each figure comes with its title and a sentence on what it shows, so the report, a notebook
or a test can use it without knowing how it was made. Every axis names its unit, because a
reader of the report cannot ask which one was meant. The figures use SVG traces only (no
WebGL): the report must render in any browser, a headless one in CI included.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from housing_assets.lib.analysis.eda import EdaResult
from housing_assets.lib.data.columns import ORDINAL_SCALES, TARGET
from housing_assets.lib.data.frames import fixed_sample

# plotly_white's layout (white background, light grid) without its per-trace-type defaults:
# the full template is deep-copied into every figure and embedded in the HTML; its layout alone
# costs a fraction of that and looks the same on these charts.
TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)
PRICE_AXIS = "Sale price (USD)"
SALES_AXIS = "Number of sales"
TOP_FEATURES = 20
BAND_UNITS = {"Gr Liv Area": "sq ft", "Year Built": "year built", TARGET: "USD"}
KEY_NUMERICS = {
    "Gr Liv Area": "Above-ground living area (sq ft)",
    "Total SF": "Total floor area, basement included (sq ft)",
    "Year Built": "Year built (calendar year)",
}
KEY_CATEGORICALS = ("MS Zoning", "Bldg Type", "Kitchen Qual", "Sale Condition")


class Chart(NamedTuple):
    title: str
    description: str
    figure: go.Figure


def _layout(figure: go.Figure, title: str, x: str, y: str, height: int = 450) -> go.Figure:
    figure.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template=TEMPLATE,
        height=height,
        margin={"t": 60, "l": 70, "r": 30, "b": 60},
    )
    return figure


def price_distribution(cleaned: pd.DataFrame) -> Chart:
    title = "Sale price distribution"
    figure = go.Figure(go.Histogram(x=cleaned[TARGET].to_numpy(float), nbinsx=60))
    return Chart(
        title,
        "Sale prices are right-skewed: most houses sell between $100k and $250k, a long tail "
        "reaches past $600k. This is why the models learn log(price).",
        _layout(figure, title, PRICE_AXIS, SALES_AXIS),
    )


def log_price_distribution(cleaned: pd.DataFrame) -> Chart:
    title = "Log sale price distribution"
    figure = go.Figure(go.Histogram(x=np.log(cleaned[TARGET].to_numpy(float)), nbinsx=60))
    return Chart(
        title,
        "On the log scale the price distribution is close to symmetric, so a 10% error weighs "
        "the same for a cheap and an expensive house.",
        _layout(figure, title, "Natural log of sale price (log USD)", SALES_AXIS),
    )


def numeric_histogram(cleaned: pd.DataFrame, column: str, axis_label: str) -> Chart:
    title = f"Distribution of {column}"
    figure = go.Figure(go.Histogram(x=cleaned[column].to_numpy(float), nbinsx=50))
    return Chart(
        title,
        f"How many sales fall at each value of {column}, a key price driver.",
        _layout(figure, title, axis_label, SALES_AXIS),
    )


def _level_order(values: pd.Series, column: str) -> list[str]:
    present = set(values.dropna())
    if column in ORDINAL_SCALES:
        return [level for level in ORDINAL_SCALES[column] if level in present]
    return list(values.value_counts().index)


def categorical_counts(cleaned: pd.DataFrame, columns=KEY_CATEGORICALS) -> Chart:
    title = "Sales per level of key categorical features"
    columns = [c for c in columns if c in cleaned.columns]
    rows = (len(columns) + 1) // 2
    figure = make_subplots(rows=rows, cols=2, subplot_titles=columns, vertical_spacing=0.18)
    for i, column in enumerate(columns):
        counts = cleaned[column].value_counts()
        order = _level_order(cleaned[column], column)
        row, col = i // 2 + 1, i % 2 + 1
        figure.add_trace(go.Bar(x=order, y=counts.reindex(order).to_numpy(), name=column), row, col)
        figure.update_xaxes(title_text=f"{column} (level)", row=row, col=col)
        figure.update_yaxes(title_text=SALES_AXIS, row=row, col=col)
    figure.update_layout(title=title, template=TEMPLATE, height=330 * rows, showlegend=False)
    return Chart(
        title,
        "Counts per level: most sales are residential low-density (RL) single-family (1Fam) "
        "houses sold normally; quality levels are in scale order.",
        figure,
    )


def missing_values(missing_before: pd.DataFrame) -> Chart:
    title = "Missing values per column before cleaning"
    figure = go.Figure()
    for meaning, block in missing_before.groupby("meaning", sort=True):
        figure.add_trace(
            go.Bar(x=block["missing"].to_numpy(), y=block["column"], orientation="h", name=meaning)
        )
    figure.update_yaxes(categoryorder="total ascending")
    height = max(400, 22 * len(missing_before) + 120)
    return Chart(
        title,
        "Cells left empty in the source file. Where the data documentation says NA means the "
        "house has no such feature (pool, alley, fence, ...), cleaning made it a level 'None'; "
        "the other gaps were imputed.",
        _layout(figure, title, "Missing values (number of sales)", "Column", height),
    )


def living_area_vs_price(cleaned: pd.DataFrame) -> Chart:
    title = "Living area against sale price, by overall quality"
    figure = go.Figure(
        go.Scatter(
            x=cleaned["Gr Liv Area"].to_numpy(float),
            y=cleaned[TARGET].to_numpy(float),
            mode="markers",
            marker={
                "color": cleaned["Overall Qual"].to_numpy(float),
                "colorscale": "Viridis",
                "size": 5,
                "opacity": 0.7,
                "colorbar": {"title": {"text": "Overall quality (1-10)"}},
            },
        )
    )
    return Chart(
        title,
        "Price rises with living area, and at a given size better-built houses sell higher. "
        "The few houses over 4,000 sq ft sold far below the trend (partial sales).",
        _layout(figure, title, KEY_NUMERICS["Gr Liv Area"], PRICE_AXIS, 520),
    )


def price_by_neighbourhood(cleaned: pd.DataFrame) -> Chart:
    title = "Sale price by neighbourhood, sorted by median price"
    medians = cleaned.groupby("Neighborhood")[TARGET].median().sort_values(kind="stable")
    figure = go.Figure()
    for neighbourhood in medians.index:
        prices = cleaned.loc[cleaned["Neighborhood"] == neighbourhood, TARGET].to_numpy(float)
        figure.add_trace(go.Box(y=prices, name=neighbourhood, boxpoints="outliers"))
    figure.update_layout(showlegend=False)
    return Chart(
        title,
        "Location alone spreads the median price more than threefold, from the cheapest "
        "neighbourhood on the left to the most expensive on the right.",
        _layout(figure, title, "Neighbourhood (Ames code)", PRICE_AXIS, 520),
    )


def correlation_heatmap(pearson_matrix: pd.DataFrame) -> Chart:
    title = "Pearson correlation between numeric features"
    labels = list(pearson_matrix.columns)
    figure = go.Figure(
        go.Heatmap(
            z=pearson_matrix.to_numpy(float).round(3),
            x=labels,
            y=labels,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            colorbar={"title": {"text": "Pearson r (unitless)"}},
        )
    )
    figure.update_yaxes(autorange="reversed")
    return Chart(
        title,
        "Blocks of red mark features that move together, e.g. the area columns and their "
        "totals, or garage cars and garage area: they carry overlapping information.",
        _layout(figure, title, "Numeric feature", "Numeric feature", 800),
    )


def target_correlation_bars(target_correlations: pd.DataFrame, n: int = 15) -> Chart:
    title = f"Top {n} numeric features by correlation with sale price"
    top = target_correlations.head(n).iloc[::-1]
    figure = go.Figure(
        [
            go.Bar(x=top["pearson"], y=top["feature"], orientation="h", name="Pearson"),
            go.Bar(x=top["spearman"], y=top["feature"], orientation="h", name="Spearman"),
        ]
    )
    figure.update_layout(barmode="group")
    return Chart(
        title,
        "Pearson measures a straight-line relation, Spearman any monotonic one. Where Spearman "
        "is clearly higher, the relation is monotonic but curved.",
        _layout(figure, title, "Correlation with sale price (unitless, -1 to 1)", "Feature", 560),
    )


def eta_bars(eta: pd.DataFrame, n: int = 15) -> Chart:
    title = f"Top {n} categorical features by association with sale price"
    top = eta[eta["feature_b"] == TARGET].nlargest(n, "value").iloc[::-1]
    figure = go.Figure(go.Bar(x=top["value"], y=top["feature_a"], orientation="h"))
    return Chart(
        title,
        "The correlation ratio eta is the share of the price spread (as a square root) that a "
        "category explains by its group means: 1 if it determines the price, 0 if not at all.",
        _layout(figure, title, "Correlation ratio eta with sale price (0 to 1)", "Feature", 520),
    )


def price_by_band(bins: pd.DataFrame, column: str) -> Chart:
    title = f"Median sale price per {column} band"
    block = bins[bins["binned_column"] == column].sort_values("band_order")
    figure = go.Figure(
        go.Bar(
            x=block["band"],
            y=block["median_price"],
            text=[f"{n:,} sales" for n in block["sales"]],
            textposition="outside",
        )
    )
    unit = BAND_UNITS.get(column, "band")
    return Chart(
        title,
        f"Median price and number of sales in each fixed-edge band of {column} made by the "
        "encoding step. The edges never change, so the bands compare across runs.",
        _layout(figure, title, f"{column} band ({unit})", "Median sale price (USD)"),
    )


def importance_comparison(importance: pd.DataFrame, n: int = TOP_FEATURES) -> Chart:
    title = f"Feature importance by two independent methods (top {n})"
    top = importance.assign(best=importance[["mi_rank", "permutation_rank"]].min(axis=1))
    top = top.nsmallest(n, "best").sort_values("permutation_importance")
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("Mutual information", "Permutation importance (boosted trees)"),
    )
    figure.add_trace(go.Bar(x=top["mutual_information"], y=top["feature"], orientation="h"), 1, 1)
    figure.add_trace(
        go.Bar(
            x=top["permutation_importance"],
            y=top["feature"],
            orientation="h",
            error_x={"type": "data", "array": top["permutation_std"].to_numpy()},
        ),
        1,
        2,
    )
    figure.update_xaxes(title_text="Mutual information with log price (nats)", row=1, col=1)
    figure.update_xaxes(title_text="Drop in R² on log price when shuffled", row=1, col=2)
    figure.update_yaxes(title_text="Feature", row=1, col=1)
    figure.update_layout(title=title, template=TEMPLATE, height=640, showlegend=False)
    return Chart(
        title,
        "Side by side, on the training rows only: mutual information (model-free) and the loss "
        "in accuracy of a gradient-boosted model when a feature is shuffled. Shuffling a "
        "feature whose information another feature repeats costs little, so the second method "
        "ranks redundant features lower.",
        figure,
    )


def importance_rank_agreement(importance: pd.DataFrame, agreement: float) -> Chart:
    title = f"Agreement of the two importance rankings (Spearman {agreement:.2f})"
    figure = go.Figure(
        go.Scatter(
            x=importance["mi_rank"],
            y=importance["permutation_rank"],
            mode="markers",
            text=importance["feature"],
            hovertemplate="%{text}<br>MI rank %{x}<br>permutation rank %{y}<extra></extra>",
        )
    )
    return Chart(
        title,
        "Each point is a feature. Points on the diagonal rank the same by both methods; the "
        "Spearman correlation of the two rankings sums up how far they agree.",
        _layout(
            figure,
            title,
            "Rank by mutual information (1 = most important)",
            "Rank by permutation importance (1 = most important)",
            520,
        ),
    )


# Charts of single sales (histograms, the scatter, the box plots) embed every point in the
# HTML; above this many sales they draw a fixed random sample, so the report stays small.
CHART_MAX_ROWS = 5_000
CHART_SAMPLE_SEED = 42


def chart_rows(cleaned: pd.DataFrame) -> pd.DataFrame:
    return fixed_sample(cleaned, CHART_MAX_ROWS, CHART_SAMPLE_SEED)


def build_charts(cleaned: pd.DataFrame, result: EdaResult) -> list[Chart]:
    """All figures of the report, univariate first, then bivariate, then importance."""
    cleaned = chart_rows(cleaned)
    return [
        price_distribution(cleaned),
        log_price_distribution(cleaned),
        *(numeric_histogram(cleaned, c, label) for c, label in KEY_NUMERICS.items()),
        categorical_counts(cleaned),
        missing_values(result.missing_before),
        living_area_vs_price(cleaned),
        price_by_neighbourhood(cleaned),
        correlation_heatmap(result.pearson_matrix),
        target_correlation_bars(result.target_correlations),
        eta_bars(result.eta),
        *(price_by_band(result.bins, column) for column in result.bins["binned_column"].unique()),
        importance_comparison(result.importance.table),
        importance_rank_agreement(result.importance.table, result.importance.rank_agreement),
    ]
