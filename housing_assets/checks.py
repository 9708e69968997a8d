"""Asset checks: data quality on the tables, model quality on the models.

Every result records the observed value and the threshold in its metadata, so a failure reads
on its own in the UI. Blocking checks stop downstream assets from running on bad data.
"""

import dagster as dg
import numpy as np

from housing_assets.lib.modeling import MIN_TEST_R2

MAX_RMSE_REGRESSION = 0.05


def model_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "test_r2_at_least_0_85", asset=key, blocking=True,
            description=f"Test-split R² is at least {MIN_TEST_R2}; below it the model is not promoted.",
        ),
        dg.AssetCheckSpec(
            "predictions_finite_and_positive", asset=key, blocking=True,
            description="Every test-split prediction is a finite, positive price.",
        ),
        dg.AssetCheckSpec(
            "rmse_not_worse_than_previous", asset=key,
            description=f"Test RMSE is at most {MAX_RMSE_REGRESSION:.0%} worse than the previous materialisation.",
        ),
    ]  # fmt: skip


def model_check_results(
    key: dg.AssetKey, metrics: dict[str, float], predictions, previous_rmse: float | None
) -> list[dg.AssetCheckResult]:
    predictions = np.asarray(predictions, dtype=float)
    bad = int((~np.isfinite(predictions) | (predictions <= 0)).sum())
    rmse = metrics["test_rmse"]
    limit = None if previous_rmse is None else previous_rmse * (1 + MAX_RMSE_REGRESSION)
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name="test_r2_at_least_0_85",
            passed=bool(metrics["test_r2"] >= MIN_TEST_R2),
            metadata={"observed_r2": metrics["test_r2"], "threshold": MIN_TEST_R2},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="predictions_finite_and_positive",
            passed=bad == 0,
            metadata={"bad_predictions": bad, "predictions": len(predictions), "threshold": 0},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="rmse_not_worse_than_previous",
            passed=bool(limit is None or rmse <= limit),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "observed_rmse": rmse,
                "previous_rmse": previous_rmse if previous_rmse is not None else float("nan"),
                "threshold_rmse": limit if limit is not None else float("nan"),
                "max_regression": MAX_RMSE_REGRESSION,
            },
        ),
    ]
