"""Automation: the pipeline job and its 2-minute schedule, failure alerts, retention, drift re-pin.

The job runs in one process (`in_process_executor`): a subprocess per step would import
dagster, mlflow and sklearn again for each step, which dominates a run of this size on two
cores (benchmarks/HISTORY.md); and with MLflow 3 every exiting step process would end the shared
MLflow run.
"""

import hashlib
import http.client
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster_mlflow import end_mlflow_on_run_finished
from pydantic import Field

from housing_assets import settings
from housing_assets.freshness import SCHEDULE_MINUTES
from housing_assets.lib.alerts import append_alert, post_webhook, webhook_url_problem
from housing_assets.lib.registry.retention import collect_garbage, prune_mlflow
from housing_assets.resources import MlflowTracking
from housing_assets.settings import is_url

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


FINISHED_STATUSES = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as source:
            return hashlib.file_digest(source, "sha256").hexdigest()
    except OSError:
        return None


CODE_VERSION_TAG = "housing/code_version"
PACKAGE_DIR = Path(__file__).resolve().parent


def code_version() -> str:
    """A hash of the package's source: new code means the graph must run again."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def unchanged_source_reason(instance: dg.DagsterInstance, location: str) -> str | None:
    """Why this tick may skip: the last whole-graph run succeeded on these bytes and this code.

    Everything downstream of the source is a function of its bytes and the code, so such a
    run would redo identical work. Runs of a subset of the assets do not count. URLs are not
    hashed (that would mean a download per tick) and always run; a run launched by hand
    always runs.
    """
    if is_url(location):
        return None
    finished = instance.get_run_records(
        filters=dg.RunsFilter(job_name=housing_pipeline.name, statuses=FINISHED_STATUSES),
        limit=20,
    )
    whole = [r.dagster_run for r in finished if not r.dagster_run.asset_selection]
    if not whole or whole[0].status != dg.DagsterRunStatus.SUCCESS:
        return None
    if whole[0].tags.get(CODE_VERSION_TAG) != code_version():
        return None
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_housing"))
    stored = event.asset_materialization.metadata.get("sha256") if event else None
    current = file_sha256(location)
    if stored is None or current is None or stored.value != current:
        return None
    return (
        f"Source {location} is unchanged since run {whole[0].run_id} "
        f"(sha256 {current[:12]}); launch housing_pipeline by hand to force a run."
    )


@dg.schedule(
    job=housing_pipeline,
    cron_schedule=f"*/{SCHEDULE_MINUTES} * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 2 minutes; skips the tick while a run of the job is queued or running, "
    "or when the source bytes are those of the last successful run.",
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
    unchanged = unchanged_source_reason(context.instance, settings.source_location())
    if unchanged:
        return dg.SkipReason(unchanged)
    return dg.RunRequest(tags={CODE_VERSION_TAG: code_version()})


_REPORTED_WEBHOOK_URLS: set[str] = set()


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run (job, run id, failed steps, error) to the alerts log, "
    "and POSTs it to HOUSING_ALERT_WEBHOOK_URL when that is set.",
)
def record_failed_runs(context: dg.RunFailureSensorContext) -> None:
    step_failures = context.get_step_failure_events()
    record = {
        "job": context.dagster_run.job_name,
        "run_id": context.dagster_run.run_id,
        "failed_steps": [event.step_key for event in step_failures],
        "error": (
            step_failures[0].event_specific_data.error.to_string().strip()
            if step_failures and step_failures[0].event_specific_data.error
            else context.failure_event.message
        ),
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    append_alert(settings.alerts_log(), record)
    context.log.info(f"Recorded failed run {record['run_id']} in {settings.alerts_log()}")
    url = settings.alert_webhook_url()
    if not url:
        return
    problem = webhook_url_problem(url)
    if problem is not None:
        # Reported once per process (the daemon's code server evaluates every tick), so a bad
        # setting shows in the log without flooding it; the log file above is still written.
        if url not in _REPORTED_WEBHOOK_URLS:
            _REPORTED_WEBHOOK_URLS.add(url)
            context.log.warning(f"HOUSING_ALERT_WEBHOOK_URL {url!r} is ignored: {problem}")
        return
    try:
        post_webhook(url, record)
    except (OSError, http.client.HTTPException) as error:  # a dead webhook is logged
        context.log.warning(f"Alert webhook {url} failed: {type(error).__name__}: {error}")


def prune_finished_runs(
    instance: dg.DagsterInstance, older_than: timedelta, now: datetime
) -> list[str]:
    """Delete finished runs created before `now - older_than`, with their event logs.

    Only SUCCESS, FAILURE and CANCELED runs are candidates: a queued or running run is never
    deleted, however old.
    """
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=FINISHED_STATUSES, created_before=now - older_than)
    )
    deleted = []
    for record in records:
        instance.delete_run(record.dagster_run.run_id)
        deleted.append(record.dagster_run.run_id)
    return deleted


class RetentionConfig(dg.Config):
    days: int = Field(
        default=7, ge=1, description="Delete finished runs older than this many days."
    )


class MlflowRetentionConfig(dg.Config):
    days: int = Field(
        default=7,
        ge=1,
        description="Delete MLflow runs, model versions and logged models older than this.",
    )
    keep_versions: int = Field(
        default=20,
        ge=1,
        description="Always keep this many newest registered versions of each model family "
        "(and the champion, whatever its age).",
    )


@dg.op
def delete_old_runs(context: dg.OpExecutionContext, config: RetentionConfig) -> int:
    """Deletes finished runs (and their event logs) older than `days`."""
    deleted = prune_finished_runs(context.instance, timedelta(days=config.days), datetime.now(UTC))
    context.log.info(f"Deleted {len(deleted)} finished runs older than {config.days} days")
    return len(deleted)


@dg.op
def delete_old_mlflow_history(
    context: dg.OpExecutionContext, config: MlflowRetentionConfig, mlflow: MlflowTracking
) -> int:
    """Deletes old MLflow runs, versions and logged models, then removes them for good."""
    client = mlflow.client()
    experiment = client.get_experiment_by_name(mlflow.experiment_name)
    report = prune_mlflow(
        client,
        settings.REGISTERED_MODEL,
        settings.CHAMPION_ALIAS,
        [experiment.experiment_id] if experiment else [],
        older_than=datetime.now(UTC) - timedelta(days=config.days),
        keep_versions=config.keep_versions,
    )
    collected = collect_garbage(mlflow.tracking_uri)
    context.log.info(
        f"MLflow retention ({config.days} days, newest {config.keep_versions} per family kept): "
        f"deleted {report.versions_deleted} versions, {report.runs_deleted} runs and "
        f"{report.logged_models_deleted} logged models; {report.versions_kept} versions kept; "
        + (
            "removed for good (mlflow gc, VACUUM)"
            if collected
            else "run `mlflow gc` on the tracking server's host to remove them for good"
        )
    )
    return report.runs_deleted


@dg.job(
    executor_def=dg.in_process_executor,
    description="Retention: a 2-minute schedule makes 720 runs a day, 1,440 model versions and "
    "2,160 MLflow runs; neither Dagster OSS nor MLflow prunes them. Deletes finished Dagster "
    "runs and MLflow history older than N days (default 7), keeping the champion.",
)
def prune_old_runs():
    delete_old_runs()
    delete_old_mlflow_history()


prune_old_runs_schedule = dg.ScheduleDefinition(
    job=prune_old_runs,
    cron_schedule="17 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:17: delete finished runs and MLflow history older than 7 days.",
)


pin_drift_reference = dg.define_asset_job(
    "pin_drift_reference",
    selection=["drift_reference"],
    executor_def=dg.in_process_executor,
    config={"ops": {"drift_reference": {"config": {"repin": True}}}},
    description="Re-pin the drift reference to the current cleaned_housing table.",
)
