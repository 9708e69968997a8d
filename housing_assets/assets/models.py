"""ML pipeline: two price models, each one sklearn Pipeline, tracked in MLflow.

dagster-mlflow's resource opens one MLflow run per Dagster run; each model logs into its own
nested run, so the two models' params and metrics stay apart while sharing the Dagster run id.
The quality checks are computed inside the asset (check_specs) because they need the test
predictions, and they are the gate: a version that fails any blocking check is never promoted.
A version that passes is promoted only if it beats the champion re-scored on this run's test
split (once a run: the second model step reads the first one's figure), and the alias moves
last (see `lib.registry.champion.register_decision`). The run's first model step splits the
raw table, and the others take its split when they find the same data version
(`resources.ModelSplit`).
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from housing_assets import settings
from housing_assets.assets.ingestion import RAW_KEY
from housing_assets.checks import model_check_specs, model_gate
from housing_assets.freshness import SCHEDULED_FRESHNESS
from housing_assets.lib.data.cleaning import sales
from housing_assets.lib.ml.families import FAMILIES, ModelFamily
from housing_assets.lib.ml.split import Split, split_sales
from housing_assets.lib.ml.valuation import REQUIRED_COLUMNS
from housing_assets.lib.ml.workflow import train_log_promote
from housing_assets.lib.registry.champion import RegistryTarget
from housing_assets.lib.registry.datasets import WarehouseTableSource
from housing_assets.metadata import markdown_table
from housing_assets.resources import FitWorkers, MlflowTracking, ModelSplit, Warehouse


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


def example_houses(raw: pd.DataFrame) -> pd.DataFrame:
    """A few houses in the source file's format: the model's input example."""
    return sales(raw.head(3))[list(REQUIRED_COLUMNS)]


def model_input(warehouse: Warehouse) -> tuple[Split, pd.DataFrame]:
    """The published raw table's sales split 70/30 as model features, and the model's input
    example."""
    raw = warehouse.read(RAW_KEY.path[-1])
    return split_sales(raw), example_houses(raw)


MODEL_KEYS = frozenset(dg.AssetKey(fam.asset) for fam in FAMILIES.values())


def model_steps(run: dg.DagsterRun) -> int:
    """How many model steps a run has: those it selects, or every family's."""
    selected = run.asset_selection
    return len(MODEL_KEYS & selected) if selected else len(MODEL_KEYS)


def raw_data_version(instance: dg.DagsterInstance) -> str | None:
    """The SHA-256 of the source bytes the latest raw table was read from."""
    event = instance.get_latest_materialization_event(RAW_KEY)
    entry = event.asset_materialization.metadata.get("sha256") if event else None
    return None if entry is None else str(entry.value)


def previous_test_rmse(instance: dg.DagsterInstance, key: dg.AssetKey) -> float | None:
    previous = instance.get_latest_materialization_event(key)
    if previous is None or previous.asset_materialization is None:
        return None
    entry = previous.asset_materialization.metadata.get("test_rmse")
    return float(entry.value) if entry is not None else None


def build_model_asset(fam: ModelFamily) -> dg.AssetsDefinition:
    key = dg.AssetKey(fam.asset)
    checks = model_check_specs(key)

    @dg.asset(
        name=fam.asset,
        group_name="ml_pipeline",
        kinds={"sklearn", "mlflow"},
        description=fam.description,
        check_specs=checks,
        # The model reads the source rows through the one feature path (`model_input`); the
        # cleaned table's blocking checks still gate it.
        deps=[RAW_KEY, "cleaned_housing"],
        freshness_policy=SCHEDULED_FRESHNESS,
    )
    def _model(
        context: dg.AssetExecutionContext,
        config: ModelConfig,
        mlflow: MlflowTracking,
        fit_workers: FitWorkers,
        warehouse: Warehouse,
        model_split: ModelSplit,
    ) -> dg.MaterializeResult:
        data_version = raw_data_version(context.instance)
        (split, examples), made = model_split.take(
            data_version, lambda: model_input(warehouse), takers=model_steps(context.run)
        )
        context.log.info(
            f"Split {len(split.X_train) + len(split.X_test)} sales 70/30: {len(split.X_train)} "
            f"train, {len(split.X_test)} test, {split.X_train.shape[1]} features"
            + ("" if made else " (the split an earlier model step of this run made)")
        )
        previous_rmse = previous_test_rmse(context.instance, key)
        results: list[dg.AssetCheckResult] = []
        gate = model_gate(key, previous_rmse, results)
        tags = {
            "dagster_run_id": context.run_id,
            "dagster_run_url": f"{settings.dagster_ui_url()}/runs/{context.run_id}",
            "model_family": fam.name,
        }
        inputs = WarehouseTableSource(
            warehouse.users_file, warehouse.table_name(RAW_KEY.path[-1]), data_version
        )
        with mlflow.start_nested_run(run_name=fam.asset, tags=tags) as run:
            outcome = train_log_promote(
                fam.name,
                split,
                examples,
                gate,
                mlflow.client(),
                RegistryTarget(
                    settings.REGISTERED_MODEL,
                    settings.CHAMPION_ALIAS,
                    settings.champion_lock_path(),
                ),
                tune_grid=config.tune,
                data_version=data_version,
                inputs=inputs,
                jobs=fit_workers.jobs,
                # One run's model steps split the same raw table the same way.
                split_name=f"{context.run_id}/{data_version}" if data_version else None,
            )
        trained, decision = outcome.trained, outcome.decision
        metrics = trained.metrics
        version = str(outcome.model_info.registered_model_version)
        context.log.info(f"{fam.asset} params {trained.params}; metrics {metrics}")
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
                "logged_model_uri": outcome.model_info.model_uri,
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
                "comparison": markdown_table(outcome.comparison, index=False),
            },
            check_results=results,
        )

    return _model


model_assets = [build_model_asset(fam) for fam in FAMILIES.values()]
