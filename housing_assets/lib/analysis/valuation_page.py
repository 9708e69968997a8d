"""One house's valuation as a person reads it: estimate, range, the reasons and the comps.

The same content as text (`valuation_text`, what `housing-api value` prints) and as a small
self-contained HTML page (`valuation_html`, no scripts), from a `Valuation`: the pyfunc's
answer with `explain` and `comparables` (`from_prediction`), or the rows of the warehouse's
`price_reasons` and `price_comparables` tables.
"""

import html
import math
from typing import NamedTuple

import pandas as pd

from housing_assets.lib.analysis.report import STYLE, table_html

COMP_COLUMNS = {
    "comp_rank": "#",
    "comp_pid": "PID",
    "comp_neighborhood": "neighbourhood",
    "comp_sold": "sold",
    "comp_price": "price",
    "adjustment": "adjustment",
    "adjusted_price": "adjusted",
    "net_adjustment_pct": "net %",
    "gross_adjustment_pct": "gross %",
    "weight": "weight",
    "flagged": "flagged",
}


def shown_comparables(comparables: pd.DataFrame) -> pd.DataFrame:
    """The comps as text columns: dollars whole, percentages to 0.1, weights to 0.001."""
    shown = comparables.loc[:, list(COMP_COLUMNS)].copy()
    for column in ("comp_price", "adjustment", "adjusted_price"):
        shown[column] = shown[column].map(lambda x: f"{x:,.0f}")
    shown["net_adjustment_pct"] = shown["net_adjustment_pct"].map(lambda x: f"{x:+.1f}")
    shown["gross_adjustment_pct"] = shown["gross_adjustment_pct"].map(lambda x: f"{x:.1f}")
    shown["weight"] = shown["weight"].map(lambda x: f"{x:.3f}")
    shown["flagged"] = shown["flagged"].map(lambda x: "yes" if x else "")
    return shown.rename(columns=COMP_COLUMNS)


class Valuation(NamedTuple):
    pid: int
    neighborhood: str
    estimate: float
    low: float
    high: float
    level: float
    sale_price: float  # NaN for a house not sold
    base_value: float  # log price
    reasons: pd.DataFrame  # feature, value, contribution, dollars; largest first
    comparables: pd.DataFrame  # COMP_COLUMNS' columns, by rank
    implied_value: float  # NaN without comps
    model: str  # e.g. "ames-sale-price v3"


def from_prediction(pid, neighborhood: str, row, level: float, sale_price, model: str) -> Valuation:
    """A Valuation from one row of the pyfunc's answer with `explain` and `comparables`."""
    comparables = pd.DataFrame(list(row["comparables"]))
    if len(comparables):
        comparables = comparables.sort_values("comp_rank")
    return Valuation(
        int(pid), str(neighborhood), float(row["estimate"]), float(row["low"]),
        float(row["high"]), float(level), float(sale_price), float(row["base_value"]),
        pd.DataFrame(list(row["reasons"])), comparables, float(row["implied_value"]), model,
    )  # fmt: skip


def _money(value: float) -> str:
    return "n/a" if math.isnan(value) else f"${value:,.0f}"


def headline(v: Valuation) -> list[str]:
    sold = "" if math.isnan(v.sale_price) else f"; sold for {_money(v.sale_price)}"
    lines = [
        f"House {v.pid} ({v.neighborhood}), valued by {v.model}",
        f"Estimate {_money(v.estimate)}, {v.level:.0%} range {_money(v.low)} to "
        f"{_money(v.high)}{sold}",
    ]
    if len(v.comparables):
        gap = 100 * (v.implied_value / v.estimate - 1)
        lines.append(
            f"{len(v.comparables)} comparable sales imply {_money(v.implied_value)} "
            f"({gap:+.1f}% from the estimate)"
        )
    else:
        lines.append("No comparable sale in the year before")
    return lines


def valuation_text(v: Valuation) -> str:
    lines = [*headline(v), ""]
    lines.append(
        f"Why: the base value (the average house) is {_money(math.exp(v.base_value))}; then"
    )
    for r in v.reasons.itertuples():
        lines.append(
            f"  {r.feature:<22} {str(r.value):<14} {r.dollars:>+12,.0f}  ({r.contribution:+.4f} log)"
        )
    lines.append(f"  {'= estimate':<37} {v.estimate:>12,.0f}")
    if len(v.comparables):
        lines.append("")
        lines.append("Comparable sales (adjusted by the model to this house):")
        lines.append(shown_comparables(v.comparables).to_string(index=False))
    return "\n".join(lines) + "\n"


def valuation_html(v: Valuation) -> str:
    title = f"Valuation of house {v.pid}"
    head = "".join(f"<p>{html.escape(line)}</p>" for line in headline(v))
    reasons = v.reasons.rename(columns={"contribution": "contribution (log price)"})
    comps = shown_comparables(v.comparables) if len(v.comparables) else v.comparables
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{head}
<section class="table"><h2>Why: base value {html.escape(_money(math.exp(v.base_value)))}, then</h2>
{table_html(reasons, digits=4)}</section>
<section class="table"><h2>Comparable sales</h2>
{table_html(comps, digits=1)}</section>
</body>
</html>
"""
