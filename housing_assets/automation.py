"""The job that runs the whole graph.

The job runs in one process (`in_process_executor`): on a 2-core machine a subprocess per step
costs about 2-3 s of imports each (dagster, mlflow, sklearn), which would dominate a run of
this size; and with MLflow 3 every exiting step process would end the shared MLflow run.
"""

import dagster as dg
from dagster_mlflow import end_mlflow_on_run_finished

housing_pipeline = dg.define_asset_job(
    "housing_pipeline",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    hooks={end_mlflow_on_run_finished},
    description="Materialise every asset: ingestion, cleaning, encoding, EDA and both models.",
)
