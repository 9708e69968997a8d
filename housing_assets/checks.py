"""Asset checks: data quality on the tables, model quality on the models.

Every result records the observed value and the threshold in its metadata, so a failure reads
on its own in the UI. Blocking checks are also the audit of write-audit-publish: a table asset
evaluates them on its frame before it yields the output (`audited_output`), so a frame that
fails one is never handed to the IO manager, and the previous table stays published.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import dagster as dg
import numpy as np
import pandas as pd

from housing_assets.lib.data import quality
from housing_assets.lib.data.drift import PSI_WARN
from housing_assets.lib.data.quality import RuleOutcome
from housing_assets.lib.ml.metrics import MIN_TEST_R2
from housing_assets.lib.ml.ratio_study import (
    COVERAGE_Z,
    IAAO_LIMITS,
    MAX_COVERAGE_GAP,
    TEST_SCOPE,
    VERTICAL_STATISTICS,
    all_sales,
    coverage_outcome,
    group_rows,
    limit_outcome,
)

MAX_RMSE_REGRESSION = 0.05
GROUP_COVERAGE_CHECK = "groups_coverage_near_nominal"


def model_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "test_r2_above_floor", asset=key, blocking=True,
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
        dg.AssetCheckSpec(
            "interval_coverage_near_nominal", asset=key,
            description=f"The price ranges cover the test split within {MAX_COVERAGE_GAP:.0%} points of their nominal level.",
        ),
    ]  # fmt: skip


def interval_check_result(key: dg.AssetKey, coverage: float, nominal: float) -> dg.AssetCheckResult:
    """WARN when the ranges' test coverage is more than MAX_COVERAGE_GAP from nominal."""
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="interval_coverage_near_nominal",
        passed=bool(abs(coverage - nominal) <= MAX_COVERAGE_GAP),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "observed_coverage": coverage,
            "nominal_level": nominal,
            "threshold_gap": MAX_COVERAGE_GAP,
        },
    )


def model_check_results(
    key: dg.AssetKey,
    metrics: dict[str, float],
    predictions,
    previous_rmse: float | None,
    interval_level: float,
) -> list[dg.AssetCheckResult]:
    predictions = np.asarray(predictions, dtype=float)
    bad = int((~np.isfinite(predictions) | (predictions <= 0)).sum())
    rmse = metrics["test_rmse"]
    limit = None if previous_rmse is None else previous_rmse * (1 + MAX_RMSE_REGRESSION)
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name="test_r2_above_floor",
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
        interval_check_result(key, metrics["test_interval_coverage"], interval_level),
    ]


# Data quality. Each rule is a pure function in lib/data/quality.py; here it gets a name, a
# severity and whether it blocks the assets downstream.
class DataRule(NamedTuple):
    name: str
    rule: Callable[[pd.DataFrame], RuleOutcome]
    description: str
    blocking: bool
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


RAW_RULES = (
    DataRule("required_columns_present", quality.required_columns_present,
             "All 82 Ames columns are present.", blocking=True),
    DataRule("enough_rows", quality.enough_rows,
             f"At least {quality.MIN_RAW_ROWS:,} sales.", blocking=True),
    DataRule("unique_pid", quality.unique_pids,
             "Each sale has a parcel id (PID), and each PID appears once.", blocking=True),
    DataRule("sale_price_positive", quality.positive_sale_prices,
             "Every SalePrice is a positive number.", blocking=True),
    DataRule("areas_non_negative", quality.areas_non_negative,
             "Every area (sq ft) is 0 or more (a missing area is not negative).", blocking=True),
)  # fmt: skip
CLEANED_RULES = (
    DataRule("no_missing_values", quality.no_missing_values,
             "Cleaning left no missing value.", blocking=True),
    DataRule("year_built_not_after_sale", quality.built_not_after_sale,
             "Year built is not after the year sold; counts the exceptions.", blocking=False,
             severity=dg.AssetCheckSeverity.WARN),
    DataRule("remodel_not_before_built", quality.remodel_not_before_built,
             "Year remodelled is not before year built; counts the exceptions.", blocking=False,
             severity=dg.AssetCheckSeverity.WARN),
)  # fmt: skip
ESTIMATE_RULES = (
    DataRule("unique_pid", quality.unique_pids,
             "Each house (PID) is priced once.", blocking=True),
    DataRule("estimates_finite_and_positive", quality.estimates_finite_and_positive,
             "Every estimate and range bound is a finite, positive price.", blocking=True),
)  # fmt: skip
REASON_RULES = (
    DataRule("contributions_add_up_to_estimate", quality.reasons_add_up,
             "Each house's base value and contributions add up to the log of its estimate in "
             f"price_estimates, to {quality.REASONS_TOLERANCE:g}.", blocking=True),
    DataRule("unique_pid_rank", quality.unique_pid_ranks,
             "Each house has each rank once, the base value (rank 0) among them.", blocking=True),
)  # fmt: skip
COMPARABLE_RULES = (
    DataRule("comps_are_known_sales", quality.comps_are_known_sales,
             "No comp is its subject or a test-split house: comps are known (training) sales.",
             blocking=True),
    DataRule("comps_sold_in_the_year_before", quality.comps_sold_within_window,
             "Each comp sold 1 to 12 months before its subject's valuation date.", blocking=True),
)  # fmt: skip
DRIFT_CHECK = "no_drift_against_reference"


def data_check_specs(key: dg.AssetKey, rules) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(r.name, asset=key, description=r.description, blocking=r.blocking)
        for r in rules
    ]


def data_check_results(key: dg.AssetKey, rules, frame: pd.DataFrame) -> list[dg.AssetCheckResult]:
    results = []
    for r in rules:
        outcome = r.rule(frame)
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=r.name,
                passed=bool(outcome.passed),
                severity=r.severity,
                metadata={
                    "observed": outcome.observed,
                    "threshold": outcome.threshold,
                    "detail": outcome.detail,
                },
            )
        )
    return results


class AuditFailed(dg.Failure):
    """A blocking check failed: the output was not published."""


def blocking_failures(
    checks: Sequence[dg.AssetCheckSpec], results: Sequence[dg.AssetCheckResult]
) -> list[dg.AssetCheckResult]:
    blocking = {spec.name for spec in checks if spec.blocking}
    return [r for r in results if r.check_name in blocking and not r.passed]


def model_gate(
    key: dg.AssetKey, previous_rmse: float | None, results: list[dg.AssetCheckResult]
) -> Callable:
    """The quality gate `lib.ml.workflow.train_log_promote` asks about a trained model: it
    appends the model's check results to `results` and answers the names of the blocking
    checks that failed."""
    specs = model_check_specs(key)

    def gate(trained) -> tuple[str, ...]:
        results.extend(
            model_check_results(
                key, trained.metrics, trained.test_predictions, previous_rmse,
                trained.valuation.level,
            )
        )  # fmt: skip
        return tuple(r.check_name for r in blocking_failures(specs, results))

    return gate


def describe_failure(result: dg.AssetCheckResult) -> str:
    meta = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
    shown = ", ".join(f"{k} {v}" for k, v in meta.items() if k != "detail")
    detail = f"; {meta['detail']}" if meta.get("detail") else ""
    return f"{result.check_name} ({shown}{detail})"


def audit_failure(
    key: dg.AssetKey | Sequence[dg.AssetKey], failed: Sequence[dg.AssetCheckResult]
) -> AuditFailed:
    """The step's failure; for the tables of one multi-asset step (a sequence of keys), none of
    which is published."""
    rules = "; ".join(describe_failure(r) for r in failed)
    if isinstance(key, dg.AssetKey):
        what = f"{key.to_user_string()} failed {len(failed)} blocking check(s), so the new table "
        what += "was not published and the previous one stays"
    else:
        names = " and ".join(k.to_user_string() for k in key)
        what = f"{names} failed {len(failed)} blocking check(s), so neither new table was "
        what += "published and the previous ones stay"
    return AuditFailed(
        description=f"{what}: {rules}",
        metadata={"failed_checks": ", ".join(r.check_name for r in failed)},
    )


def audited_output(
    key: dg.AssetKey,
    checks: Sequence[dg.AssetCheckSpec],
    results: Sequence[dg.AssetCheckResult],
    output: dg.Output,
) -> Iterator:
    """Write-audit-publish for one table asset: the output only if every blocking check passed.

    The results are always yielded, so the UI's check history records them with their
    observed values. On a blocking failure they come first and the step fails with a message
    naming each failed check and its counts; the output is never yielded, so the IO manager
    never writes and the published table (and everything downstream of it) stays as it was.
    """
    failed = blocking_failures(checks, results)
    if failed:
        yield from results
        raise audit_failure(key, failed)
    yield output
    yield from results


# The ratio study: IAAO's limits block on the champion's figures over the whole test split
# (the table is then not published); per neighbourhood and price quartile they warn, since a
# group of 20 sales is a small sample.
CHAMPION_STUDY_MODEL = "champion"


def ratio_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    specs = []
    for statistic, limit in IAAO_LIMITS.items():
        specs.append(
            dg.AssetCheckSpec(
                f"champion_{statistic}_within_iaao",
                asset=key,
                blocking=True,
                description=f"The champion's {statistic} over the test split is "
                f"{limit.describe()} (IAAO Standard on Ratio Studies).",
            )
        )
        specs.append(
            dg.AssetCheckSpec(
                f"groups_{statistic}_within_iaao",
                asset=key,
                description=f"The champion's {statistic} in each neighbourhood"
                f"{'' if statistic in VERTICAL_STATISTICS else ' and price quartile'} of the "
                f"test split is {limit.describe()}.",
            )
        )
    specs.append(
        dg.AssetCheckSpec(
            GROUP_COVERAGE_CHECK,
            asset=key,
            description="The champion's price ranges cover each neighbourhood and price "
            f"quartile of the test split within {MAX_COVERAGE_GAP:.0%} points of their level, "
            "or within the gap a calibrated range strays by in 1 group in 1,000 where the group "
            "is too small to tell.",
        )
    )
    return specs


def coverage_check_result(key: dg.AssetKey, groups: pd.DataFrame) -> dg.AssetCheckResult:
    outcome = coverage_outcome(groups)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=GROUP_COVERAGE_CHECK,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "observed": outcome.observed,
            "observed_in": outcome.where,
            "threshold": f"level +- max({MAX_COVERAGE_GAP:g}, {COVERAGE_Z:g} x binomial sd)",
            "groups_checked": int(groups["coverage"].notna().sum()),
            "outside": "; ".join(outcome.outside) or "none",
        },
    )


def ratio_check_results(key: dg.AssetKey, study: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """Each IAAO limit on the champion's test-split rows of every sale (not only the
    validated sample): overall (blocking), each group; then the ranges' coverage in each
    group."""
    study = all_sales(study)
    champion = study[(study["model"] == CHAMPION_STUDY_MODEL) & (study["scope"] == TEST_SCOPE)]
    overall = champion[champion["group_kind"] == "overall"]
    results = []
    for statistic in IAAO_LIMITS:
        for prefix, rows, severity in (
            ("champion", overall, dg.AssetCheckSeverity.ERROR),
            ("groups", group_rows(champion, statistic), dg.AssetCheckSeverity.WARN),
        ):
            outcome = limit_outcome(rows, statistic)
            results.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=f"{prefix}_{statistic}_within_iaao",
                    passed=outcome.passed,
                    severity=severity,
                    metadata={
                        "observed": outcome.observed,
                        "observed_in": outcome.where,
                        "threshold": outcome.limit.describe(),
                        "groups_checked": len(rows),
                        "outside": "; ".join(outcome.outside) or "none",
                    },
                )
            )
    results.append(coverage_check_result(key, champion[champion["group_kind"] != "overall"]))
    return results


def drift_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        DRIFT_CHECK,
        asset=key,
        description=f"PSI of each key feature against the pinned reference is at most {PSI_WARN}.",
    )


def drift_check_result(key: dg.AssetKey, table: pd.DataFrame | None) -> dg.AssetCheckResult:
    """WARN when any key feature's PSI is above the threshold.

    Without a reference there is nothing to compare: the check passes and says so (the
    `drift_reference` asset pins one from this table once it is accepted).
    """
    if table is None:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=DRIFT_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "reference": "none yet: drift_reference pins this table once it is accepted",
                "threshold_psi": PSI_WARN,
            },
        )
    drifted = table.loc[table["drifted"], "feature"].tolist()
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=DRIFT_CHECK,
        passed=not drifted,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "max_psi": float(table["psi"].max()),
            "threshold_psi": PSI_WARN,
            "drifted_features": ", ".join(drifted) or "none",
            **{f"psi {row.feature}": float(row.psi) for row in table.itertuples()},
            "drift": dg.MetadataValue.md(table.to_markdown(index=False)),
        },
    )
