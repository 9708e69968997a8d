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


IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.schedule(
    job=housing_pipeline,
    cron_schedule="*/2 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 2 minutes; skips the tick while a run of the job is queued or running.",
)
def housing_pipeline_schedule(context: dg.ScheduleEvaluationContext):
    in_flight = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=housing_pipeline.name, statuses=IN_FLIGHT_STATUSES),
        limit=1,
    )
    if in_flight:
        run = in_flight[0].dagster_run
        return dg.SkipReason(
            f"Run {run.run_id} of {housing_pipeline.name} is still {run.status.value}; "
            "overlapping runs would race on the warehouse and the champion alias."
        )
    return dg.RunRequest()
