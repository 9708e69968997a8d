"""ML pipeline: two price models, each one sklearn Pipeline, tracked in MLflow.

dagster-mlflow's resource opens one MLflow run per Dagster run; each model logs into its own
nested run, so the two models' params and metrics stay apart while sharing the Dagster run id.
The quality checks are computed inside the asset (check_specs) because they need the test
predictions, and they are the gate: a version that fails any blocking check is never promoted.
A version that passes is promoted only if it beats the champion re-scored on this run's test
split, and the alias moves last (see `lib/tracking.register_decision`).
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from housing_assets import settings
from housing_assets.checks import blocking_failures, model_check_results, model_check_specs
from housing_assets.lib.data.cleaning import restore_imputed_gaps
from housing_assets.lib.ml.modeling import model_input_columns, split_housing, train_and_score
from housing_assets.lib.ml.valuation import DEFAULT_LEVEL, REQUIRED_COLUMNS, build_valuation
from housing_assets.lib.registry.tracking import Challenger, log_valuation_model, register_decision
from housing_assets.metadata import markdown_table
from housing_assets.resources import MlflowTracking

MODEL_FAMILIES = {
    "linear_price_model": (
        "linear",
        "Ridge regression on log price with spline-expanded log areas (sklearn Pipeline).",
    ),
    "boosted_price_model": (
        "boosted",
        "Histogram gradient-boosted trees on log price (sklearn Pipeline).",
    ),
}


class ModelConfig(dg.Config):
    """Run config of a price model (the launchpad, or `--config-json` on the CLI)."""

    tune: bool = Field(
        default=False,
        description=(
            "Cross-validate on the training split and log cv_rmse: the booster chooses its tree "
            "size by a 3-fold grid search, the linear model reports its "
            "3-fold CV error (it always chooses its penalty by generalised CV). "
            "Scheduled runs fit the default tree size, which is what the search picks on the "
            "real data."
        ),
    )


INTERVAL_LEVEL = DEFAULT_LEVEL


def example_houses(cleaned: pd.DataFrame) -> pd.DataFrame:
    """A few houses in the source file's format for the model's input example (the cleaned
    table keeps the source's columns; the gaps cleaning imputed are put back)."""
    return restore_imputed_gaps(cleaned.head(3))[list(REQUIRED_COLUMNS)]


def raw_data_version(instance: dg.DagsterInstance) -> str | None:
    """The SHA-256 of the source bytes the latest raw table was read from."""
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_housing"))
    entry = event.asset_materialization.metadata.get("sha256") if event else None
    return None if entry is None else str(entry.value)


def build_model_asset(name: str, family: str, description: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(name)
    checks = model_check_specs(key)

    @dg.asset(
        name=name,
        group_name="ml_pipeline",
        kinds={"sklearn", "mlflow"},
        description=description,
        check_specs=checks,
        # The warehouse IO manager selects just these columns (not the z-score copies).
        ins={"cleaned_housing": dg.AssetIn(metadata={"columns": model_input_columns()})},
    )
    def _model(
        context: dg.AssetExecutionContext,
        config: ModelConfig,
        mlflow: MlflowTracking,
        cleaned_housing: pd.DataFrame,
    ) -> dg.MaterializeResult:
        split = split_housing(cleaned_housing)
        context.log.info(
            f"Split {len(cleaned_housing)} rows 70/30: {len(split.X_train)} train, "
            f"{len(split.X_test)} test, {split.X_train.shape[1]} features"
        )
        with mlflow.start_nested_run(
            run_name=name, tags={"dagster_run_id": context.run_id, "model_family": family}
        ) as run:
            trained = train_and_score(family, split, tune=config.tune)
            valuation = build_valuation(trained.estimator, split, trained.test_predictions)
            metrics = {**trained.metrics, **valuation.metrics}
            mlflow.log_params(
                {
                    **trained.params,
                    "train_rows": len(split.X_train),
                    "test_rows": len(split.X_test),
                    "interval_level": INTERVAL_LEVEL,
                }
            )
            mlflow.log_metrics(metrics)
            model_info = log_valuation_model(
                valuation.model, example_houses(cleaned_housing), settings.REGISTERED_MODEL
            )
        context.log.info(f"{name} params {trained.params}; metrics {metrics}")

        previous = context.instance.get_latest_materialization_event(key)
        previous_rmse = None
        if previous is not None and previous.asset_materialization is not None:
            entry = previous.asset_materialization.metadata.get("test_rmse")
            previous_rmse = float(entry.value) if entry is not None else None
        results = model_check_results(
            key, metrics, trained.test_predictions, previous_rmse, INTERVAL_LEVEL
        )

        version = str(model_info.registered_model_version)
        challenger = Challenger(
            version=version,
            family=family,
            test_rmse=metrics["test_rmse"],
            failed_gate_checks=tuple(r.check_name for r in blocking_failures(checks, results)),
            data_version=raw_data_version(context.instance),
        )
        decision, comparison = register_decision(
            mlflow.client(),
            settings.REGISTERED_MODEL,
            settings.CHAMPION_ALIAS,
            challenger,
            split.X_test,
            split.y_test,
            lock_path=settings.champion_lock_path(),
            families=tuple(family for family, _ in MODEL_FAMILIES.values()),
        )
        context.log.info(
            f"Registered {settings.REGISTERED_MODEL} v{version}; champion: "
            f"{'promoted' if decision.promoted else 'unchanged'} ({decision.reason})"
        )
        run_url = f"{settings.mlflow_ui_url()}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        return dg.MaterializeResult(
            metadata={
                **metrics,
                "train_rows": len(split.X_train),
                "test_rows": len(split.X_test),
                "params": dg.MetadataValue.json(trained.params),
                "mlflow_run_id": run.info.run_id,
                "mlflow_run_url": dg.MetadataValue.url(run_url),
                "model_uri": f"models:/{settings.REGISTERED_MODEL}/{version}",
                "logged_model_uri": model_info.model_uri,
                "registered_version": int(version),
                "promoted_to_champion": decision.promoted,
                "champion_decision": decision.reason,
                # JSON, not floats: every float entry of a model is one of its metrics.
                "champion_decision_figures": dg.MetadataValue.json(
                    {
                        "champion_version_before": decision.previous_version,
                        "champion_rmse_rescored": decision.previous_rmse,
                        "challenger_rmse": decision.challenger_rmse,
                    }
                ),
                "comparison": markdown_table(comparison, index=False),
            },
            check_results=results,
        )

    return _model


model_assets = [build_model_asset(name, *spec) for name, spec in MODEL_FAMILIES.items()]
