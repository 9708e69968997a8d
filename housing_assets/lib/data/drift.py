"""Drift of the incoming data against a pinned reference snapshot, per key feature.

Population Stability Index (PSI) on ten quantile bins of the reference: 0 means the same
distribution, above 0.1 a moderate shift, above 0.2 a shift worth a look (the usual credit-risk
reading). The two-sample Kolmogorov-Smirnov statistic is reported beside it as a scale-free
second opinion. The reference is pinned on the first accepted run and re-pinned on demand, so
"drift" always means "against a snapshot someone accepted", not against last week.
"""

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

DRIFT_FEATURES = (
    "SalePrice", "Gr Liv Area", "Total SF", "Overall Qual", "Year Built", "Lot Area",
    "Garage Area",
)  # fmt: skip
PSI_BINS = 10
PSI_WARN = 0.2
EPSILON = 1e-4


def population_stability_index(reference, current, bins: int = PSI_BINS) -> float:
    """PSI = sum((cur% - ref%) * ln(cur% / ref%)) over quantile bins of the reference."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # constant reference: any change of value is a full shift
        return 0.0 if np.all(current == reference[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.histogram(reference, edges)[0] / len(reference)
    cur_share = np.histogram(current, edges)[0] / len(current)
    ref_share, cur_share = np.clip(ref_share, EPSILON, None), np.clip(cur_share, EPSILON, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def drift_table(
    reference: pd.DataFrame, current: pd.DataFrame, features=DRIFT_FEATURES
) -> pd.DataFrame:
    rows = []
    for feature in features:
        psi = population_stability_index(reference[feature], current[feature])
        ks = ks_2samp(reference[feature].astype(float), current[feature].astype(float))
        rows.append(
            {
                "feature": feature,
                "psi": round(psi, 4),
                "ks_statistic": round(float(ks.statistic), 4),
                "drifted": bool(psi > PSI_WARN),
            }
        )
    return pd.DataFrame(rows)
