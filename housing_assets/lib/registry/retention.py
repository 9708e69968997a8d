"""MLflow retention: old runs, model versions and logged models go; the champion never does.

A 2-minute schedule registers two versions and writes three runs every run (the Dagster run's
parent run and one nested run per model), 2,160 runs a day. Deleting in MLflow is two steps:
the client's delete calls only mark runs and logged models as `deleted` (and model versions
are removed from the registry at once), and `mlflow gc` then removes the marked rows and their
artifact folders for good. On SQLite the file keeps its freed pages until `VACUUM`, so that
runs last, which is what makes the bytes go away.

What stays, whatever its age: the champion version, the newest `keep_versions` versions of
each model family, the runs those versions were logged in and the parent runs of those runs,
and the logged models behind the kept versions.
"""

import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from housing_assets.lib.registry.champion import current_champion
from housing_assets.lib.registry.store import sqlite_path

PAGE_SIZE = 500
PARENT_RUN_TAG = "mlflow.parentRunId"
GC_TIMEOUT_SECONDS = 600


class RetentionReport(NamedTuple):
    versions_deleted: int
    runs_deleted: int
    logged_models_deleted: int
    versions_kept: int


def all_versions(client: MlflowClient, model_name: str) -> list:
    versions, token = [], None
    while True:
        page = client.search_model_versions(
            f"name = '{model_name}'", max_results=PAGE_SIZE, page_token=token
        )
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def logged_model_id(version) -> str | None:
    """The logged model behind a version (the SQLite store leaves `model_id` empty and names
    it in `source` instead)."""
    if version.model_id:
        return version.model_id
    source = version.source or ""
    return source.removeprefix("models:/") if source.startswith("models:/m-") else None


def versions_to_keep(versions: Iterable, champion_version: str | None, keep_newest: int) -> set:
    """The champion and the newest `keep_newest` versions of each model family."""
    by_family: dict[str, list] = {}
    for version in versions:
        by_family.setdefault(version.tags.get("model_family", "unknown"), []).append(version)
    keep = {str(champion_version)} if champion_version else set()
    for family_versions in by_family.values():
        newest = sorted(family_versions, key=lambda v: int(v.version), reverse=True)[:keep_newest]
        keep.update(str(v.version) for v in newest)
    return keep


def runs_started_before(client: MlflowClient, experiment_ids: list[str], cutoff_ms: int) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=f"attributes.start_time < {cutoff_ms}",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def prune_mlflow(
    client: MlflowClient,
    model_name: str,
    alias: str,
    experiment_ids: list[str],
    older_than: datetime,
    keep_versions: int,
) -> RetentionReport:
    """Delete versions, runs and logged models created before `older_than`, keeping the
    champion, the newest `keep_versions` of each family, and what they need (see module doc)."""
    cutoff_ms = int(older_than.timestamp() * 1000)
    champion = current_champion(client, model_name, alias)
    versions = all_versions(client, model_name)
    keep = versions_to_keep(versions, champion.version if champion else None, keep_versions)
    kept_versions = [v for v in versions if str(v.version) in keep]
    needed_runs = {v.run_id for v in kept_versions if v.run_id}
    for run_id in list(needed_runs):
        parent = client.get_run(run_id).data.tags.get(PARENT_RUN_TAG)
        if parent:
            needed_runs.add(parent)
    needed_models = {logged_model_id(v) for v in kept_versions} - {None}

    doomed = [
        v for v in versions if str(v.version) not in keep and v.creation_timestamp < cutoff_ms
    ]
    logged_models = 0
    for version in doomed:
        client.delete_model_version(model_name, version.version)
        model_id = logged_model_id(version)
        if model_id and model_id not in needed_models:
            client.delete_logged_model(model_id)
            logged_models += 1
    runs = 0
    for run in runs_started_before(client, experiment_ids, cutoff_ms):
        if run.info.run_id not in needed_runs:
            client.delete_run(run.info.run_id)
            runs += 1
    return RetentionReport(len(doomed), runs, logged_models, len(kept_versions))


def collect_garbage(tracking_uri: str) -> bool:
    """Remove what is marked deleted for good: `mlflow gc`, then VACUUM for SQLite.

    Returns False for a tracking server (http/https): `mlflow gc` needs the server's backend
    store, so it is run on the server's host (docs/deployment.md, Retention).
    """
    database = sqlite_path(tracking_uri)
    if database is None:
        return False
    subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", tracking_uri,
         "--tracking-uri", tracking_uri],
        check=True, capture_output=True, text=True, timeout=GC_TIMEOUT_SECONDS,
    )  # fmt: skip
    with sqlite3.connect(database) as connection:
        connection.execute("VACUUM")
    return True
