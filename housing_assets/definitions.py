"""The code location: assets, checks, jobs, schedules, sensors and resources, assembled."""

import atexit
import gc

# Importing the code location (dagster, sklearn, scipy, MLflow, plotly) creates hundreds of
# thousands of long-lived objects and hardly any garbage, yet the collector kept scanning them:
# about 1 s of a 1x run. Collection waits until the imports are done, and the objects they made
# are then frozen (never scanned, never freed: modules and classes live as long as the process
# anyway), so later collections scan only what the run itself creates.
collecting = gc.isenabled()
gc.disable()
try:
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
        MlflowTracking,
        warehouse_io_manager,
        warehouse_resource,
    )
finally:
    gc.freeze()
    if collecting:
        gc.enable()

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion, preparation, eda]), *model_assets],
    jobs=[housing_pipeline, prune_old_runs, pin_drift_reference],
    schedules=[housing_pipeline_schedule, prune_old_runs_schedule],
    sensors=[record_failed_runs],
    resources={
        "io_manager": warehouse_io_manager(),
        "source": HousingSource(),
        "mlflow": MlflowTracking(),
        "warehouse": warehouse_resource(),
    },
    executor=dg.in_process_executor,
)

# The interpreter's final collection over everything a run made took 2 s of a 1x run, and
# nothing needs it: every store is closed when the run ends and the OS frees the memory (the
# one thing lost is `__del__` of objects left in reference cycles; `weakref.finalize` and
# logging's shutdown still run). So the objects are frozen once more just before it. Both apply
# to the processes that import this module: run workers, `dagster asset materialize`, the code
# server, and tests (the webserver and daemon reach the code through the code server).
atexit.register(gc.freeze)
