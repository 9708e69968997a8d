"""The code location: assets, checks, jobs, schedules, sensors and resources, assembled."""

import gc

import dagster as dg

from housing_assets.assets import eda, ingestion, preparation, valuation
from housing_assets.assets.models import model_assets
from housing_assets.automation import (
    housing_pipeline,
    housing_pipeline_schedule,
    pin_drift_reference,
    prune_old_runs,
    prune_old_runs_schedule,
    record_failed_runs,
)
from housing_assets.resources import (
    FitWorkers,
    HousingSource,
    MlflowTracking,
    ModelSplit,
    SubjectsSource,
    WarehouseIOManager,
    warehouse,
)

WAREHOUSE = warehouse()

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion, preparation, eda, valuation]), *model_assets],
    jobs=[housing_pipeline, prune_old_runs, pin_drift_reference],
    schedules=[housing_pipeline_schedule, prune_old_runs_schedule],
    sensors=[record_failed_runs],
    resources={
        "io_manager": WarehouseIOManager(warehouse=WAREHOUSE),
        "source": HousingSource(),
        "subjects": SubjectsSource(),
        "mlflow": MlflowTracking(),
        "fit_workers": FitWorkers(),
        "model_split": ModelSplit(),
        "warehouse": WAREHOUSE,
    },
    executor=dg.in_process_executor,
)

# Everything imported so far (dagster, MLflow, scikit-learn, pandas: about a million objects)
# lives as long as the process. Frozen, the collector no longer walks it at each full
# collection during a run, nor at the process's exit.
gc.freeze()
