"""The metrics of a price and of a price range, shared by training, re-scoring and valuations."""

import numpy as np
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_log_error,
)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "rmsle": float(root_mean_squared_log_error(y_true, np.clip(y_pred, 0, None))),
        "median_ae": float(median_absolute_error(y_true, y_pred)),
    }


def interval_metrics(y, low, high) -> dict[str, float]:
    y, low, high = (np.asarray(v, dtype=float) for v in (y, low, high))
    return {
        "interval_coverage": float(np.mean((y >= low) & (y <= high))),
        "interval_median_width": float(np.median(high - low)),
    }


def priced_accuracy(sale_price, estimate, low, high) -> dict[str, float]:
    """Error and range coverage of priced houses, on those with a sale price (none: {})."""
    sold = ~np.isnan(np.asarray(sale_price, dtype=float))
    if not sold.any():
        return {}
    y, estimate, low, high = (
        np.asarray(v, dtype=float)[sold] for v in (sale_price, estimate, low, high)
    )
    errors = regression_metrics(y, estimate)
    return {
        "houses_with_sale_price": int(sold.sum()),
        "interval_coverage": interval_metrics(y, low, high)["interval_coverage"],
        "rmse": errors["rmse"],
        "mae": errors["mae"],
    }


# The quality gate: the blocking check and the champion promotion use the same threshold.
MIN_TEST_R2 = 0.85
