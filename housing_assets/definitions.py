"""The code location: assets, checks, jobs, schedules, sensors and resources, assembled."""

import atexit
import gc

import dagster as dg

from housing_assets.assets import eda, ingestion, preparation
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
    HousingSource,
    mlflow_resource,
    warehouse_io_manager,
    warehouse_resource,
)

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion, preparation, eda]), *model_assets],
    jobs=[housing_pipeline, prune_old_runs, pin_drift_reference],
    schedules=[housing_pipeline_schedule, prune_old_runs_schedule],
    sensors=[record_failed_runs],
    resources={
        "io_manager": warehouse_io_manager(),
        "source": HousingSource(),
        "mlflow": mlflow_resource(),
        "warehouse": warehouse_resource(),
    },
    executor=dg.in_process_executor,
)

# A run process ends holding millions of Python objects (sklearn, scipy, MLflow, plotly), and
# the interpreter's final garbage collection over them took 2 s of a 1x run's 37 s. Nothing
# needs it: every store is closed when the run ends and the OS frees the memory. Frozen objects
# are skipped by the collector, so this turns that pass into a no-op (for every process that
# loads the code location: runs, the code server, webserver and daemon, at their exit only).
atexit.register(gc.freeze)
